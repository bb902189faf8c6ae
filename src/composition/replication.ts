import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import type { JobLocks } from '../coordination/job-lock.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { ApiRoute } from '../http/api/api-route.ts';
import { replicationRoutes } from '../http/api/replication-api.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import { createReplication } from '../replication/policies/replication-module.ts';

export interface ReplicationCompositionDependencies {
  registry: RegistryService;
  /** The store that writes (not a cache in front of it): the push trigger listens to its changes. */
  metadata: MetadataStore;
  httpSecret: string;
  locks: JobLocks;
  logger: Logger;
  metrics: Registry;
  /** Publishes `replication.finished` when given. */
  events?: EventPublisher;
}

export interface ComposedReplication {
  apiRoutes: readonly ApiRoute[];
  /** Starts the schedules and the dispatcher (once the server listens). */
  start(): void;
  close(): Promise<void>;
}

/** Replication policies: the API routes, the event-based trigger on the metadata store, the executions. */
export function composeReplication(config: Config, deps: ReplicationCompositionDependencies): ComposedReplication {
  const events = deps.events;
  const replication = createReplication({
    db: deps.metadata.db,
    registry: deps.registry,
    secret: deps.httpSecret,
    locks: deps.locks,
    logger: deps.logger,
    metrics: deps.metrics,
    workers: config.replication.workers,
    onFinished: events
      ? async (execution, policy, outcome) => {
          await events.publish({
            action: 'replication.finished',
            details: {
              policy: policy.name,
              policyId: policy.id,
              execution: execution.id,
              trigger: execution.trigger,
              direction: policy.direction,
              status: outcome.status,
              succeeded: outcome.counts.succeeded,
              failed: outcome.counts.failed,
              skipped: outcome.counts.skipped,
              stopped: outcome.counts.stopped,
              bytes: outcome.bytes,
              message: outcome.text,
            },
          });
        }
      : undefined,
  });
  deps.metadata.addChangeListener(replication.changeListener);
  return {
    apiRoutes: replicationRoutes(replication.service),
    start: () => replication.start(),
    close: () => replication.close(),
  };
}
