import type { Logger } from '../observability/logger.ts';
import type { JobLocks } from './job-lock.ts';

export interface PeriodicJob {
  /** Names the job in logs and its locks. */
  name: string;
  intervalMs: number;
  /** `periodStart`: the period being run, in milliseconds since the Unix epoch. */
  run(signal: AbortSignal, periodStart: number): Promise<void>;
}

/** setTimeout's largest delay; longer waits are taken in steps. */
const maxTimerDelayMs = 2 ** 31 - 1;

/**
 * Runs the job once per interval across every instance sharing `locks`. Periods are aligned to the
 * wall clock (multiples of the interval since the Unix epoch, so a 24h job runs at 00:00 UTC): all
 * instances wake at the same moments, and the first to claim a period runs it. The claim is kept
 * for the whole period, so an instance whose clock is a little behind does not run it a second
 * time. Returns a function that stops the schedule.
 */
export function schedulePeriodicJob(job: PeriodicJob, locks: JobLocks, logger: Logger): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const waitFor = (periodStart: number) => {
    const delay = periodStart - Date.now();
    if (delay > maxTimerDelayMs) {
      timer = setTimeout(() => waitFor(periodStart), maxTimerDelayMs);
    } else {
      timer = setTimeout(() => void runPeriod(periodStart), Math.max(delay, 0));
    }
    timer.unref();
  };

  const runPeriod = async (periodStart: number) => {
    const period = new Date(periodStart).toISOString();
    try {
      const outcome = await locks.withJobLock(
        `${job.name}:${periodStart}`,
        job.intervalMs,
        async (signal) => {
          logger.debug({ job: job.name, period }, 'running periodic job');
          await job.run(signal, periodStart);
        },
        { release: false },
      );
      if (!outcome.ran) logger.debug({ job: job.name, period }, 'periodic job skipped: claimed by another instance');
    } catch (error) {
      logger.error({ job: job.name, period, err: error }, 'periodic job failed');
    }
    if (!stopped) waitFor(nextPeriodStart(job.intervalMs, Math.max(Date.now(), periodStart)));
  };

  waitFor(nextPeriodStart(job.intervalMs, Date.now()));
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The first period boundary after `time`. */
export function nextPeriodStart(intervalMs: number, time: number): number {
  return (Math.floor(time / intervalMs) + 1) * intervalMs;
}
