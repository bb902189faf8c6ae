import type { Config } from '../config/config.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { GcMetrics } from '../observability/metrics.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { gcChangeListener } from './gc-change-listener.ts';
import { OnlineCollector } from './online-collector.ts';
import { reviewSettingsOf } from './review-settings.ts';

export interface GarbageCollection {
  stop(): Promise<void>;
}

/**
 * Online garbage collection for one instance. `metadata` is the store whose writes notify listeners;
 * `readThrough` the one requests use (a cache in front of it), whose entries the collector's
 * deletions invalidate. The listener is added whatever gc.enabled says: the review queues and the
 * guards against collecting what a push is about to reference serve every instance's worker and
 * `wharf gc`. No worker runs in read-only mode, which promises that nothing is written.
 */
export function startGarbageCollection(
  config: Config,
  metadata: MetadataStore,
  readThrough: MetadataStore,
  storage: StorageDriver,
  logger: Logger,
  metrics: GcMetrics,
): GarbageCollection {
  metadata.addChangeListener(gcChangeListener(reviewSettingsOf(config.gc), storage));
  if (!config.gc.enabled || config.storage.maintenance.readonly.enabled) return { stop: async () => {} };
  const collector = new OnlineCollector(
    readThrough,
    storage,
    { workers: config.gc.workers, intervalMs: config.gc.interval, deleteUntagged: config.gc.deleteuntagged },
    logger,
    metrics,
  );
  collector.start();
  return collector;
}
