import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import type { JobLocks } from '../coordination/job-lock.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { ApiRoute } from '../http/api/api-route.ts';
import { lifecycleRoutes } from '../http/api/lifecycle-api.ts';
import type { ProjectContents } from '../http/api/management-context.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { ProjectStore } from '../metadata/project-store.ts';
import type { Logger } from '../observability/logger.ts';
import { isRegistryError, RegistryError } from '../oci/errors.ts';
import { ArtifactInventory } from '../policy/artifact-inventory.ts';
import { immutabilityGuard } from '../policy/immutability/immutability-guard.ts';
import { ImmutabilityRules } from '../policy/immutability/immutability-rules.ts';
import { PullRecorder } from '../policy/pull-recorder.ts';
import { registerQuotaMetrics } from '../policy/quota/quota-metrics.ts';
import { Quotas } from '../policy/quota/quotas.ts';
import { usageLedger } from '../policy/quota/usage-ledger.ts';
import { registryScope } from '../policy/quota/usage-scope.ts';
import { registerRetentionMetrics } from '../policy/retention/retention-metrics.ts';
import { RetentionRunner } from '../policy/retention/retention-runner.ts';
import { RetentionScheduler } from '../policy/retention/retention-scheduler.ts';
import { RetentionStore } from '../policy/retention/retention-store.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import { quotaEvents, retentionEvents } from './lifecycle-events.ts';

export interface LifecycleDependencies {
  /** The store itself (not a cache in front of it): its listeners see every write. */
  metadata: MetadataStore;
  logger: Logger;
  metrics: Registry;
  locks: JobLocks;
  /** Publishes quota.near, quota.exceeded and retention.finished when given. */
  events?: EventPublisher;
}

export interface ComposedLifecycle {
  /** For RegistryOptions.onManifestPulled. */
  onManifestPulled(repository: string, digest: string): void;
  /** What deletes through `registry`: the management API routes (projects mode) and retention runs. */
  attach(registry: RegistryService): { apiRoutes: ApiRoute[]; projectContents: ProjectContents };
  /** Starts the retention schedules; after attach. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Tag immutability and quotas as checks inside every metadata write, last-pulled times, and
 * retention policies run on their schedules; docs/lifecycle.md describes them. The checks run in
 * every mode; the policies are managed through the API, which exists in projects mode.
 */
export async function composeLifecycle(config: Config, deps: LifecycleDependencies): Promise<ComposedLifecycle> {
  const { metadata, logger } = deps;
  const db = metadata.db;
  const registryQuotaBytes = config.storage.quota;
  const immutability = new ImmutabilityRules(db);
  const quotas = new Quotas(db, registryQuotaBytes);
  // Immutability first: a refused change should not wait for the usage row's lock.
  metadata.addChangeListener(immutabilityGuard(immutability));
  const events = deps.events;
  const quotaNotices = events === undefined ? undefined : quotaEvents(events, logger);
  metadata.addChangeListener(usageLedger({ registryQuotaBytes, notices: quotaNotices }));
  const counted = await quotas.countUncounted();
  if (counted > 0) logger.info({ projects: counted }, 'counted the storage usage of projects for their quotas');
  // The registry's usage is kept only while storage.quota is set: count it again now.
  if (quotas.registryUsageKept) await quotas.recompute(registryScope);
  registerQuotaMetrics(deps.metrics, quotas);

  const pulls = new PullRecorder(db, logger);
  const inventory = new ArtifactInventory(db);
  const store = new RetentionStore(db);
  let runner: RetentionRunner | undefined;
  let scheduler: RetentionScheduler | undefined;
  const countRun = registerRetentionMetrics(deps.metrics);
  const announceRun = events === undefined ? undefined : retentionEvents(events);
  return {
    onManifestPulled: (repository, digest) => pulls.pulled(repository, digest),
    attach(registry) {
      runner = new RetentionRunner({
        db,
        store,
        inventory,
        immutability,
        deleteManifest: (repository, digest) => registry.deleteManifest(repository, digest),
        locks: deps.locks,
        logger,
        async finished(run) {
          countRun(run);
          await announceRun?.(run);
        },
      });
      if (config.auth.projects.enabled) scheduler = new RetentionScheduler(store, runner, logger);
      const apiRoutes = lifecycleRoutes({
        projects: new ProjectStore(db),
        registry,
        inventory,
        immutability,
        quotas,
        retention: { store, runner, scheduler },
      });
      const projectContents: ProjectContents = {
        async deleteRepositories(project) {
          const names = await inventory.repositoryNames(project);
          // Every repository an immutable tag protects is named at once; the others go meanwhile.
          const kept: { repository: string; reason: string }[] = [];
          for (const repository of names) {
            await registry.deleteRepository(repository).catch((error: unknown) => {
              // Deleted meanwhile: what this wanted.
              if (isRegistryError(error) && error.code === 'NAME_UNKNOWN') return;
              if (isRegistryError(error) && error.code === 'DENIED') {
                kept.push({ repository, reason: error.message });
                return;
              }
              throw error;
            });
          }
          if (kept.length > 0) throw immutableRepositories(project, kept, names.length - kept.length);
        },
        async projectDeleted(project) {
          immutability.forget(project);
          await quotas.forgetEmptyProject(project);
          await scheduler?.refresh();
        },
      };
      return { apiRoutes, projectContents };
    },
    async start() {
      await scheduler?.start();
    },
    async close() {
      scheduler?.stop();
      await runner?.close();
      await pulls.flush();
      await quotaNotices?.settled();
    },
  };
}

/** A forced project deletion refused by tag immutability: every protected repository, and why. */
function immutableRepositories(
  project: string,
  kept: readonly { repository: string; reason: string }[],
  deleted: number,
): RegistryError {
  const count = kept.length === 1 ? '1 repository' : `${kept.length} repositories`;
  return new RegistryError(
    'DENIED',
    `project ${project} keeps ${count} an immutable tag protects (the other ${deleted} ${deleted === 1 ? 'was' : 'were'} deleted): ${kept.map((entry) => entry.reason).join('; ')}`,
    { detail: { project, repositories: kept.map((entry) => entry.repository) } },
  );
}
