import type { Principal } from '../../auth/principal.ts';
import { RegistryError } from '../../oci/errors.ts';
import { isReplicationError } from '../../replication/policies/replication-error.ts';
import type { ReplicationService } from '../../replication/policies/replication-service.ts';
import { SecretUnreadableError } from '../../replication/policies/secret-box.ts';
import { conflict, forbidden, notFound, preconditionFailed } from './api-errors.ts';
import type { ApiRoute } from './api-route.ts';
import { registryEndpointRoutes } from './registry-endpoint-routes.ts';
import { replicationExecutionRoutes } from './replication-execution-routes.ts';
import { replicationPolicyRoutes } from './replication-policy-routes.ts';

/** Registry endpoints, replication policies and their executions: system administrators only, as in Harbor. */
export function replicationRoutes(service: ReplicationService): ApiRoute[] {
  return [
    ...registryEndpointRoutes(service),
    ...replicationPolicyRoutes(service),
    ...replicationExecutionRoutes(service),
  ];
}

export function requireReplicationAdmin(principal: Principal): void {
  if (!principal.admin) throw forbidden('only system administrators may manage replication');
}

export const replicationErrorResponses = {
  unauthorized: { status: 401, description: 'authentication required' },
  forbidden: { status: 403, description: 'the caller is not a system administrator' },
  invalid: { status: 400, description: 'the request is not valid' },
  notFound: { status: 404, description: 'no such resource' },
} as const;

/** Runs replication work, turning its refusals into the API's errors. */
export async function translateReplicationErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof SecretUnreadableError) throw preconditionFailed(error.message);
    if (!isReplicationError(error)) throw error;
    switch (error.kind) {
      case 'invalid':
        throw new RegistryError('UNSUPPORTED', error.message, { status: 400 });
      case 'not-found':
        throw notFound(error.message);
      case 'conflict':
        throw conflict(error.message);
      case 'precondition':
        throw preconditionFailed(error.message);
    }
  }
}
