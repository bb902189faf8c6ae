import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { JobLocks } from '../../coordination/job-lock.ts';
import type { ChangeListener } from '../../metadata/metadata-changes.ts';
import type { Database } from '../../metadata/schema.ts';
import type { Logger } from '../../observability/logger.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import { EndpointStore } from './endpoint-store.ts';
import { ExecutionDispatcher, type ExecutionFinishedListener } from './execution-dispatcher.ts';
import { ExecutionStore } from './execution-store.ts';
import { PolicyStore } from './policy-store.ts';
import { PushTrigger } from './push-trigger.ts';
import { registerReplicationMetrics } from './replication-metrics.ts';
import { ReplicationScheduler } from './replication-scheduler.ts';
import { ReplicationService } from './replication-service.ts';
import { SecretBox } from './secret-box.ts';
import type { TaskRetryOptions } from './task-retry.ts';

export interface ReplicationDependencies {
  db: Kysely<Database>;
  registry: RegistryService;
  /** `http.secret` (or the generated one): the key of stored credentials derives from it. */
  secret: string;
  locks: JobLocks;
  logger: Logger;
  metrics: Registry;
  /** `replication.workers`. */
  workers: number;
  retry?: TaskRetryOptions;
  onFinished?: ExecutionFinishedListener;
}

export interface Replication {
  service: ReplicationService;
  /** Register on the MetadataStore that writes (the event-based trigger). */
  changeListener: ChangeListener;
  start(): void;
  close(): Promise<void>;
}

/** Replication policies, wired: the API's service, the dispatcher, the schedules and the push trigger. */
export function createReplication(deps: ReplicationDependencies): Replication {
  const executions = new ExecutionStore(deps.db);
  const policies = new PolicyStore(deps.db);
  const service = new ReplicationService(
    { endpoints: new EndpointStore(deps.db), policies, executions },
    new SecretBox(deps.secret),
  );
  const dispatcher = new ExecutionDispatcher(
    service,
    executions,
    deps.registry,
    deps.locks,
    registerReplicationMetrics(deps.metrics),
    deps.logger,
    { workers: deps.workers, ...(deps.retry === undefined ? {} : { retry: deps.retry }) },
    deps.onFinished,
  );
  const nudge = () => dispatcher.nudge();
  const scheduler = new ReplicationScheduler(policies, executions, deps.logger, nudge);
  const pushTrigger = new PushTrigger(policies, executions, nudge);
  service.setHooks({
    policiesChanged() {
      pushTrigger.invalidate();
      scheduler.refresh();
    },
    executionQueued: nudge,
  });
  return {
    service,
    changeListener: pushTrigger.listener(),
    start() {
      scheduler.start();
      dispatcher.start();
    },
    async close() {
      scheduler.stop();
      await dispatcher.close();
    },
  };
}
