import { Cron } from 'croner';
import type { Logger } from '../../observability/logger.ts';
import { type RetentionRunner, runHeartbeatMs } from './retention-runner.ts';
import type { RetentionStore } from './retention-store.ts';

/** How often the schedules are read again, to follow changes made through other instances. */
export const scheduleRefreshMs = 30_000;

export interface RetentionSchedulerOptions {
  /** A running run whose heartbeat is older than this was abandoned by a process that died. */
  abandonedAfterMs?: number;
}

interface ScheduledJob {
  project: string;
  schedule: string;
  cron: Cron;
}

/**
 * Runs every project's retention policy on its cron schedule (croner; five fields, or six with
 * seconds first, in UTC). Every instance keeps the same timers; each fire is claimed in the
 * database under its scheduled time (RetentionRunner.runScheduled), so exactly one instance runs it.
 * At start and on every refresh it also marks failed the runs whose heartbeat stopped (their
 * process crashed or was killed), as replication does with its executions.
 */
export class RetentionScheduler {
  private readonly jobs = new Map<number, ScheduledJob>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly abandonedAfterMs: number;

  constructor(
    private readonly store: RetentionStore,
    private readonly runner: RetentionRunner,
    private readonly logger: Logger,
    options: RetentionSchedulerOptions = {},
  ) {
    this.abandonedAfterMs = options.abandonedAfterMs ?? runHeartbeatMs * 6;
  }

  async start(): Promise<void> {
    await this.failAbandoned();
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.logger.warn({ err: error }, 'could not read retention schedules'));
      this.failAbandoned().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not look for interrupted retention runs'),
      );
    }, scheduleRefreshMs);
    this.timer.unref();
  }

  private async failAbandoned(): Promise<void> {
    const failed = await this.store.failAbandoned(Date.now() - this.abandonedAfterMs);
    for (const id of failed) this.logger.warn({ run: id }, 'retention run interrupted: its process stopped');
  }

  /** Follows the schedules as stored now (called at once after a change through this instance). */
  async refresh(): Promise<void> {
    const policies = await this.store.scheduledPolicies();
    if (this.stopped) return;
    const wanted = new Map(policies.map((policy) => [policy.projectId, policy]));
    for (const [projectId, job] of this.jobs) {
      if (wanted.get(projectId)?.schedule !== job.schedule) {
        job.cron.stop();
        this.jobs.delete(projectId);
      }
    }
    for (const policy of policies) {
      if (this.jobs.has(policy.projectId) || policy.schedule === null) continue;
      const job: ScheduledJob = {
        project: policy.project,
        schedule: policy.schedule,
        cron: new Cron(policy.schedule, { protect: true, unref: true, timezone: 'Etc/UTC' }, () => this.fire(job)),
      };
      this.jobs.set(policy.projectId, job);
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const job of this.jobs.values()) job.cron.stop();
    this.jobs.clear();
  }

  private async fire(job: ScheduledJob): Promise<void> {
    const scheduledFor = fireTimeOf(job.cron, Date.now());
    try {
      const policy = await this.store.findPolicy(job.project);
      if (!policy || policy.schedule !== job.schedule) return;
      await this.runner.runScheduled(policy, scheduledFor);
    } catch (error) {
      this.logger.error({ err: error, project: job.project }, 'scheduled retention run failed');
    }
  }
}

/**
 * The schedule time a fire belongs to: the latest one not after now (give or take a second of
 * timer slack), the same on every instance whatever its timer's delay.
 */
export function fireTimeOf(cron: Cron, now: number): number {
  let fire: number | undefined;
  for (
    let next = cron.nextRun(new Date(now - 60_000));
    next && next.getTime() <= now + 1_000;
    next = cron.nextRun(next)
  ) {
    fire = next.getTime();
  }
  return fire ?? Math.floor(now / 1_000) * 1_000;
}
