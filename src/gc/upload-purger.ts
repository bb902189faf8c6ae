import { type JobLocks, LocalJobLocks } from '../coordination/job-lock.ts';
import { schedulePeriodicJob } from '../coordination/periodic-job.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { StorageDriver } from '../storage/driver.ts';

export interface UploadPurgingOptions {
  /** Uploads started longer ago than this are abandoned. */
  ageMs: number;
  intervalMs: number;
  dryRun: boolean;
}

/**
 * Removes abandoned upload sessions and their staged bytes (`storage.maintenance.uploadpurging`).
 * Staged files with no session row (a crash between the two writes) are removed once they are as
 * old as the age limit too, and so are the backend's own leftovers of interrupted writes (S3's
 * unfinished multipart uploads).
 */
export async function purgeUploads(
  storage: StorageDriver,
  metadata: MetadataStore,
  options: UploadPurgingOptions,
  logger: Logger,
  signal?: AbortSignal,
): Promise<number> {
  const cutoff = Date.now() - options.ageMs;
  const expired = new Set(await metadata.listUploadsStartedBefore(cutoff));
  for await (const id of storage.listUploads()) {
    if (expired.has(id)) continue;
    const stat = await storage.statUpload(id);
    if (stat && stat.startedAt.getTime() < cutoff && !(await metadata.findUpload(id))) expired.add(id);
  }
  for (const id of expired) {
    signal?.throwIfAborted();
    if (options.dryRun) {
      logger.info({ 'upload.id': id }, 'would purge abandoned upload (dry run)');
      continue;
    }
    await storage.cancelUpload(id);
    await metadata.deleteUpload(id);
  }
  if (expired.size > 0) logger.info({ count: expired.size, dryRun: options.dryRun }, 'purged abandoned uploads');
  const leftovers = (await storage.purgeAbandonedWrites?.(new Date(cutoff), options.dryRun)) ?? 0;
  if (leftovers > 0) {
    logger.info({ count: leftovers, dryRun: options.dryRun }, 'purged unfinished writes left in storage');
  }
  return expired.size;
}

/**
 * Runs purgeUploads once per interval: with Redis, on exactly one of the instances sharing it
 * (`locks`). Returns a function that stops it.
 */
export function scheduleUploadPurging(
  storage: StorageDriver,
  metadata: MetadataStore,
  options: UploadPurgingOptions,
  logger: Logger,
  locks: JobLocks = new LocalJobLocks(),
): () => void {
  const run = async (signal: AbortSignal) => {
    try {
      await purgeUploads(storage, metadata, options, logger, signal);
    } catch (error) {
      logger.error({ err: error }, 'upload purging failed');
    }
  };
  return schedulePeriodicJob({ name: 'upload-purging', intervalMs: options.intervalMs, run }, locks, logger);
}
