import { Cron } from 'croner';
import type { Logger } from '../../observability/logger.ts';
import type { ExecutionStore } from './execution-store.ts';
import type { PolicyStore } from './policy-store.ts';

/** How often policies changed on other instances are picked up. */
const refreshIntervalMs = 10_000;

/**
 * The `scheduled` trigger: a croner job per enabled scheduled policy, on every instance. When a
 * schedule fires, each instance inserts the execution under a key naming the fire time, which the
 * database accepts once, so one execution starts however many instances there are. A firing while
 * the policy's previous execution is still pending or running is skipped rather than queued.
 */
export class ReplicationScheduler {
  private readonly jobs = new Map<number, { cron: string; job: Cron }>();
  private refresher: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();

  constructor(
    private readonly policies: PolicyStore,
    private readonly executions: ExecutionStore,
    private readonly logger: Logger,
    private readonly queued: () => void,
  ) {}

  start(): void {
    this.refresh();
    this.refresher = setInterval(() => this.refresh(), refreshIntervalMs);
    this.refresher.unref();
  }

  /** Rereads the scheduled policies; serialized, so concurrent calls do not race. */
  refresh(): void {
    this.refreshing = this.refreshing
      .then(() => this.reload())
      .catch((error: unknown) => this.logger.warn({ err: error }, 'reading replication schedules failed'));
  }

  stop(): void {
    clearInterval(this.refresher);
    for (const { job } of this.jobs.values()) job.stop();
    this.jobs.clear();
  }

  private async reload(): Promise<void> {
    const wanted = new Map(
      (await this.policies.enabledWithTrigger('scheduled'))
        .filter((policy) => policy.trigger.cron !== undefined)
        .map((policy) => [policy.id, policy.trigger.cron as string]),
    );
    for (const [id, entry] of this.jobs) {
      if (wanted.get(id) !== entry.cron) {
        entry.job.stop();
        this.jobs.delete(id);
      }
    }
    for (const [id, cron] of wanted) {
      if (this.jobs.has(id)) continue;
      try {
        const job = new Cron(cron, { unref: true, catch: true }, (self: Cron) => this.fire(id, self));
        this.jobs.set(id, { cron, job });
      } catch (error) {
        this.logger.warn({ err: error, policy: id, cron }, 'replication policy has an invalid schedule');
      }
    }
  }

  private async fire(policyId: number, job: Cron): Promise<void> {
    const at = job.currentRun() ?? new Date();
    const second = new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString();
    try {
      const id = await this.executions.create(policyId, 'scheduled', {
        triggerKey: `schedule:${second}`,
        onlyIfIdle: true,
      });
      if (id !== undefined) this.queued();
    } catch (error) {
      this.logger.warn({ err: error, policy: policyId }, 'starting a scheduled replication failed');
    }
  }
}
