import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { JobLocks } from '../../coordination/job-lock.ts';
import type { Logger } from '../../observability/logger.ts';
import { runWithRequestContext } from '../../observability/request-context.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import { ArtifactSelector } from './artifact-filter.ts';
import { endpointClient } from './endpoint-client.ts';
import { type ExecutionOutcome, ExecutionStopped, runExecution } from './execution-runner.ts';
import type { ExecutionStore, NewTask, TriggerRecord } from './execution-store.ts';
import { LocalSide } from './local-side.ts';
import { destinationRepository } from './namespace-rewrite.ts';
import { RemoteSide } from './remote-side.ts';
import type { ReplicationMetrics } from './replication-metrics.ts';
import type { Execution, ReplicationPolicy } from './replication-model.ts';
import type { ReplicationService } from './replication-service.ts';
import { defaultTaskRetry, type TaskRetryOptions } from './task-retry.ts';

/** Finished executions kept per policy, with their tasks; older ones are deleted as new ones end. */
const executionHistory = 500;

export interface DispatcherOptions {
  /** Executions this instance runs at the same time (`replication.workers`). */
  workers: number;
  /** How often the database is asked for pending executions and queued events. */
  pollIntervalMs?: number;
  /** How often a running execution records that its instance is alive (and learns of a stop). */
  heartbeatIntervalMs?: number;
  /** A running execution whose heartbeat is older than this was abandoned by a dead instance. */
  abandonedAfterMs?: number;
  retry?: TaskRetryOptions;
}

/** Told when an execution ends, e.g. to publish a `replication.finished` event. */
export type ExecutionFinishedListener = (
  execution: Execution,
  policy: ReplicationPolicy,
  outcome: ExecutionOutcome,
) => Promise<void>;

/**
 * Runs executions on whichever instance claims them first. Each instance polls for pending
 * executions (and is nudged at once for those it queued itself), claims one with a conditional
 * update under a job lock, and runs at most `workers` at a time. A running execution sends
 * heartbeats; one whose heartbeats stop (its instance died) is marked failed by another instance,
 * and one whose instance shuts down is marked failed at once: starting it again copies only what
 * is missing. Queued push and delete events become executions of their event-based policies here.
 */
export class ExecutionDispatcher {
  readonly instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly running = new Map<number, { controller: AbortController; done: Promise<void> }>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastAbandonedCheck = 0;
  private readonly pollIntervalMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly abandonedAfterMs: number;

  constructor(
    private readonly service: ReplicationService,
    private readonly store: ExecutionStore,
    private readonly registry: RegistryService,
    private readonly locks: JobLocks,
    private readonly metrics: ReplicationMetrics,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions,
    private readonly onFinished: ExecutionFinishedListener = async () => {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 2_000;
    this.abandonedAfterMs = options.abandonedAfterMs ?? 30_000;
  }

  start(): void {
    this.schedule(0);
  }

  /** Looks for work now rather than at the next poll. */
  nudge(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  /** Stops polling and interrupts the executions running here; they end as failed ("interrupted"). */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const { controller } of this.running.values()) controller.abort(new ExecutionStopped('shutdown'));
    await Promise.allSettled([...this.running.values()].map((entry) => entry.done));
    await this.polling?.catch(() => {});
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.polling = this.poll()
        .catch((error: unknown) => this.logger.error({ err: error }, 'replication dispatch failed'))
        .finally(() => {
          this.polling = undefined;
          if (this.stopped) return;
          const again = this.again;
          this.again = false;
          this.schedule(again ? 0 : this.pollIntervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    await this.drainTriggers();
    if (Date.now() - this.lastAbandonedCheck > this.heartbeatIntervalMs * 5) {
      this.lastAbandonedCheck = Date.now();
      const failed = await this.store.failAbandoned(Date.now() - this.abandonedAfterMs);
      for (const id of failed) this.logger.warn({ execution: id }, 'replication execution abandoned by its instance');
    }
    const free = this.options.workers - this.running.size;
    if (free <= 0) return;
    for (const id of await this.store.pendingIds(free + this.running.size)) {
      if (this.stopped || this.running.size >= this.options.workers) return;
      if (this.running.has(id)) continue;
      const controller = new AbortController();
      const entry = { controller, done: Promise.resolve() };
      this.running.set(id, entry);
      entry.done = this.execute(id, controller)
        .catch((error: unknown) => this.logger.error({ err: error, execution: id }, 'replication execution failed'))
        .finally(() => {
          this.running.delete(id);
          this.nudge();
        });
    }
  }

  private async execute(id: number, controller: AbortController): Promise<void> {
    const outcome = await this.locks.withJobLock(`replication:execution:${id}`, this.abandonedAfterMs, async (lock) => {
      if (!(await this.store.claim(id, this.instance))) return;
      lock.addEventListener('abort', () => controller.abort(new ExecutionStopped('lock-lost')), { once: true });
      await runWithRequestContext(
        {
          requestId: `replication-${id}`,
          sourceAddress: undefined,
          userAgent: undefined,
          actor: { name: 'replication', kind: 'system' },
        },
        () => this.runClaimed(id, controller),
      );
    });
    if (!outcome.ran) this.logger.debug({ execution: id }, 'replication execution taken by another instance');
  }

  private async runClaimed(id: number, controller: AbortController): Promise<void> {
    const execution = await this.store.find(id);
    const policy = execution && (await this.service.policies.find(execution.policyId));
    if (!execution || !policy) {
      await this.store.finish(id, 'failed', 'its policy was deleted');
      return;
    }
    this.metrics.executionStarted();
    const heartbeat = setInterval(() => {
      this.store.heartbeat(id, this.instance).then(
        ({ stopRequested }) => {
          if (stopRequested && !controller.signal.aborted) controller.abort(new ExecutionStopped('stopped'));
        },
        (error: unknown) => this.logger.warn({ err: error, execution: id }, 'replication heartbeat failed'),
      );
    }, this.heartbeatIntervalMs);
    heartbeat.unref();
    let outcome: ExecutionOutcome;
    let remote: RemoteSide | undefined;
    try {
      // Short retries per request: a remote that stays away longer fails the task, which is then
      // tried again with a longer backoff, and every attempt shows in the task.
      const client = endpointClient(await this.service.connection(policy.remoteId), { retry: { attempts: 3 } });
      remote = new RemoteSide(client);
      const local = new LocalSide(this.registry);
      this.logger.info({ execution: id, policy: policy.name, trigger: execution.trigger }, 'replication started');
      outcome = await runExecution({
        execution,
        policy,
        source: policy.direction === 'pull' ? remote : local,
        destination: policy.direction === 'pull' ? local : remote,
        store: this.store,
        metrics: this.metrics,
        logger: this.logger,
        retry: this.options.retry ?? defaultTaskRetry,
        signal: controller.signal,
      });
    } catch (error) {
      outcome = {
        status: 'failed',
        text: error instanceof Error ? error.message : String(error),
        counts: { pending: 0, running: 0, succeeded: 0, failed: 0, stopped: 0, skipped: 0 },
        bytes: 0,
      };
    } finally {
      clearInterval(heartbeat);
      await remote?.close().catch(() => {});
    }
    await this.store.finish(id, outcome.status, outcome.text);
    await this.store.pruneHistory(policy.id, executionHistory);
    this.metrics.executionEnded(execution.trigger, outcome.status);
    this.logger.info(
      { execution: id, policy: policy.name, status: outcome.status, bytes: outcome.bytes },
      `replication ${outcome.status}: ${outcome.text}`,
    );
    await this.onFinished(execution, policy, outcome).catch((error: unknown) =>
      this.logger.warn({ err: error, execution: id }, 'reporting the end of a replication failed'),
    );
  }

  /** Turns queued push and delete events into executions, on one instance at a time. */
  private async drainTriggers(): Promise<void> {
    await this.locks.withJobLock('replication:triggers', 30_000, async () => {
      const policies = new Map(
        (await this.service.policies.enabledWithTrigger('event_based')).map((policy) => [policy.id, policy]),
      );
      const batch = 500;
      for (;;) {
        const taken = await this.store.drainTriggers(batch, (trigger) =>
          taskOfTrigger(trigger, policies.get(trigger.policyId)),
        );
        if (taken < batch || this.stopped) return;
      }
    });
  }
}

function taskOfTrigger(trigger: TriggerRecord, policy: ReplicationPolicy | undefined): NewTask | undefined {
  if (!policy) return undefined;
  let target: string;
  try {
    target = destinationRepository(trigger.repository, policy.destNamespace, policy.destNamespaceReplaceCount);
  } catch {
    return undefined;
  }
  if (!new ArtifactSelector(policy.filters).acceptsRepository(trigger.repository)) return undefined;
  const separator = trigger.reference.includes(':') ? '@' : ':';
  return {
    operation: trigger.operation,
    srcResource: `${trigger.repository}${separator}${trigger.reference}`,
    dstResource: `${target}${separator}${trigger.reference}`,
    digest: trigger.digest,
    status: 'pending',
  };
}
