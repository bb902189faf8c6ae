import type { JobLocks } from '../../coordination/job-lock.ts';
import { schedulePeriodicJob } from '../../coordination/periodic-job.ts';
import type { Logger } from '../../observability/logger.ts';
import type { OutboxStore } from './outbox-store.ts';

/** How often finished deliveries past the retention are removed. */
const purgeIntervalMs = 60 * 60_000;

/**
 * Removes delivered and dead deliveries older than `retentionMs` (notifications.delivery.retention),
 * and the events left without deliveries, once an hour on one instance. Returns a function that
 * stops it; a retention of 0 keeps everything.
 */
export function scheduleOutboxPurging(
  outbox: OutboxStore,
  retentionMs: number,
  endpointKeys: readonly string[],
  locks: JobLocks,
  logger: Logger,
): () => void {
  if (retentionMs === 0) return () => {};
  return schedulePeriodicJob(
    {
      name: 'event-outbox-purging',
      intervalMs: purgeIntervalMs,
      async run() {
        const removed = await outbox.purge(Date.now() - retentionMs, endpointKeys);
        if (removed.deliveries + removed.events > 0) logger.info(removed, 'purged delivered events past the retention');
      },
    },
    locks,
    logger,
  );
}
