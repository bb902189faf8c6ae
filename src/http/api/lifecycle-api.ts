import type { ProjectStore } from '../../metadata/project-store.ts';
import { RegistryError } from '../../oci/errors.ts';
import type { ArtifactInventory } from '../../policy/artifact-inventory.ts';
import type { ImmutabilityRules } from '../../policy/immutability/immutability-rules.ts';
import type { Quotas } from '../../policy/quota/quotas.ts';
import type { RetentionRunner } from '../../policy/retention/retention-runner.ts';
import type { RetentionScheduler } from '../../policy/retention/retention-scheduler.ts';
import type { RetentionStore } from '../../policy/retention/retention-store.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import type { ApiRoute } from './api-route.ts';
import { immutabilityRoutes } from './immutability-routes.ts';
import { ProjectAccess } from './project-access.ts';
import { quotaRoutes } from './quota-routes.ts';
import { repositoryRoutes } from './repository-routes.ts';
import { retentionRoutes } from './retention-routes.ts';

/** What the lifecycle routes work with: the registry for deletions, the policies for the rest. */
export interface LifecycleApiDependencies {
  projects: ProjectStore;
  registry: RegistryService;
  inventory: ArtifactInventory;
  immutability: ImmutabilityRules;
  quotas: Quotas;
  retention: { store: RetentionStore; runner: RetentionRunner; scheduler: RetentionScheduler | undefined };
}

/** Repositories and artifacts, tag immutability, quotas and usage, retention policies and runs. */
export function lifecycleRoutes(deps: LifecycleApiDependencies): ApiRoute[] {
  const access = new ProjectAccess(deps.projects, (message) => new RegistryError('UNAUTHORIZED', message));
  return [
    ...repositoryRoutes(access, deps),
    ...immutabilityRoutes(access, deps),
    ...quotaRoutes(access, deps),
    ...retentionRoutes(access, deps),
  ];
}
