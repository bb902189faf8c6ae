import { type JobLocks, LocalJobLocks } from '../../coordination/job-lock.ts';
import { schedulePeriodicJob } from '../../coordination/periodic-job.ts';
import type { Logger } from '../../observability/logger.ts';
import type { AuditStore } from './audit-store.ts';

const second = 1000;
const hour = 3_600_000;

export interface AuditRetention {
  /** Entries older than this are deleted (`audit.retention`; 0 keeps them forever). */
  retentionMs: number;
  /** Told how many entries each run deleted. */
  onPurged?(count: number): void;
}

/**
 * How often the purge runs: hourly, or twice per retention period when that is shorter, so no
 * entry outlives the retention by more than an hour (or by half the retention).
 */
export function purgeIntervalMs(retentionMs: number): number {
  return Math.min(hour, Math.max(second, Math.floor(retentionMs / 2)));
}

/** Deletes the entries older than the retention, as of `now`; returns how many went. */
export async function purgeAuditLog(
  store: AuditStore,
  retentionMs: number,
  now: number,
  signal?: AbortSignal,
): Promise<number> {
  return store.purgeBefore(now - retentionMs, { signal });
}

/**
 * Purges the audit log once per interval, on one instance per period when `locks` are shared
 * (Redis). Returns a function that stops it; with a retention of 0 nothing is scheduled.
 */
export function scheduleAuditPurging(
  store: AuditStore,
  retention: AuditRetention,
  logger: Logger,
  locks: JobLocks = new LocalJobLocks(),
): () => void {
  if (retention.retentionMs <= 0) return () => {};
  const run = async (signal: AbortSignal) => {
    try {
      const purged = await purgeAuditLog(store, retention.retentionMs, Date.now(), signal);
      retention.onPurged?.(purged);
      if (purged > 0) logger.info({ count: purged }, 'purged audit log entries past the retention');
    } catch (error) {
      logger.error({ err: error }, 'purging the audit log failed');
    }
  };
  return schedulePeriodicJob(
    { name: 'audit-purging', intervalMs: purgeIntervalMs(retention.retentionMs), run },
    locks,
    logger,
  );
}
