import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { GcMetrics, GcRunCounts } from '../observability/metrics.ts';
import { runWithRequestContext } from '../observability/request-context.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { claimDueBlobs, collectBlobs } from './blob-collection.ts';
import { collectDueManifests } from './manifest-collection.ts';
import { reviewQueueStats } from './review-queue.ts';

export interface OnlineCollectorOptions {
  /** Concurrent worker loops in this process (gc.workers). */
  workers: number;
  /** Sleep between runs that found nothing due (gc.interval). */
  intervalMs: number;
  deleteUntagged: boolean;
  /** Reviews taken per transaction. */
  batchSize?: number;
}

export interface GcRun extends GcRunCounts {
  /** Reviews answered or leased in this run; 0 means nothing was due. */
  reviewed: number;
}

const defaultBatchSize = 500;
/** The queue gauges cost a count over the queue tables, so they are refreshed at most this often. */
const queueStatsIntervalMs = 15_000;

/**
 * The online garbage collector of one instance: `workers` loops, each taking due reviews (manifests
 * first, whose deletion may queue blobs), collecting what nothing references, and going on at once
 * while reviews are due. Every instance runs one; the queue is shared, and a review is only ever
 * held by one worker (see blob-collection.ts).
 */
export class OnlineCollector {
  private running = false;
  private readonly stopping = new AbortController();
  private loops: Promise<void>[] = [];
  private queueStatsAt = 0;

  constructor(
    private readonly metadata: MetadataStore,
    private readonly storage: StorageDriver,
    private readonly options: OnlineCollectorOptions,
    private readonly logger: Logger,
    private readonly metrics?: GcMetrics,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = Array.from({ length: this.options.workers }, (_, index) => this.loop(index));
  }

  /** Stops taking reviews and waits for the runs in progress to end. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    await Promise.allSettled(this.loops);
  }

  /** One run: up to a batch of due manifest reviews, then of due blob reviews. */
  async runOnce(now: number = Date.now()): Promise<GcRun> {
    const batch = this.options.batchSize ?? defaultBatchSize;
    const manifests = await collectDueManifests(this.metadata, now, batch, this.options.deleteUntagged);
    const blobs = await collectBlobs(this.metadata, this.storage, (trx) => claimDueBlobs(trx, now, batch));
    const run: GcRun = {
      reviewed: manifests.reviewed + blobs.reviewed,
      blobsDeleted: blobs.deleted.length,
      bytesDeleted: blobs.deleted.reduce((sum, blob) => sum + blob.size, 0),
      manifestsDeleted: manifests.deleted,
    };
    this.metrics?.observeRun(run);
    for (const failure of blobs.failures.slice(0, 5)) {
      this.logger.warn(
        { digest: failure.digest, err: failure.error },
        'garbage collection could not delete a blob from storage; it is retried later',
      );
    }
    if (run.reviewed > 0) {
      this.logger.info(
        {
          reviewed: run.reviewed,
          blobsDeleted: run.blobsDeleted,
          bytesDeleted: run.bytesDeleted,
          manifestsDeleted: run.manifestsDeleted,
          failures: blobs.failures.length,
        },
        'garbage collection run',
      );
    }
    return run;
  }

  /** Refreshes the review queue gauges. */
  async reportQueues(now: number = Date.now()): Promise<void> {
    if (!this.metrics) return;
    for (const [queue, table] of [
      ['blob', 'gc_blob_reviews'],
      ['manifest', 'gc_manifest_reviews'],
    ] as const) {
      const stats = await reviewQueueStats(this.metadata.db, table, now);
      this.metrics.setReviewQueue(queue, stats.depth, stats.due, stats.oldestDueAgeSeconds);
    }
  }

  private async loop(index: number): Promise<void> {
    const context = { requestId: randomUUID(), sourceAddress: undefined, userAgent: undefined };
    const actor = { name: 'gc', kind: 'system' };
    while (this.running) {
      let idle = true;
      try {
        const run = await runWithRequestContext({ ...context, actor }, () => this.runOnce());
        idle = run.reviewed === 0;
        // Refreshed while busy too: a backlog is exactly when the oldest due review's age matters.
        if (index === 0 && Date.now() - this.queueStatsAt >= queueStatsIntervalMs) {
          this.queueStatsAt = Date.now();
          await this.reportQueues();
        }
      } catch (error) {
        if (!this.running) return;
        this.logger.error({ err: error, worker: index }, 'garbage collection run failed');
      }
      if (idle && this.running) {
        await sleep(this.options.intervalMs, undefined, { signal: this.stopping.signal, ref: false }).catch(() => {});
      }
    }
  }
}
