import { withMetadataCache } from '../cache/metadata-cache.ts';
import type { RedisConnection } from '../cache/redis-connection.ts';
import type { Config } from '../config/index.ts';
import type { JobLocks } from '../coordination/job-lock.ts';
import { type GarbageCollection, startGarbageCollection } from '../gc/garbage-collection.ts';
import { MetadataStore } from '../metadata/metadata-store.ts';
import { openDatabase } from '../metadata/open-database.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { RegistryService } from '../registry/registry-service.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { type ComposedEvents, composeEvents } from './events.ts';
import { type ComposedLifecycle, composeLifecycle } from './lifecycle.ts';
import { allPullGates } from './pull-gates.ts';
import { type ComposedScanning, composeScanning } from './scanning.ts';
import { type ComposedSignatures, composeSignatures } from './signatures.ts';

export interface RegistryCoreDependencies {
  storage: StorageDriver;
  logger: Logger;
  metrics: Metrics;
  redis: RedisConnection | undefined;
  /** A fresh set of job locks for each periodic job. */
  locks(): JobLocks;
  /** The registry's version, for the User-Agent of event deliveries. */
  version: string;
  /**
   * Whether this process runs the garbage collector's workers (`wharf serve`). Commands that write
   * the registry's data offline leave them to the servers but still queue the reviews they need.
   */
  collectGarbage: boolean;
}

export interface RegistryCore {
  /** The store whose writes notify the listeners (for features that add their own). */
  metadata: MetadataStore;
  /** The same store with the configured cache in front: what requests read through. */
  cachedMetadata: MetadataStore;
  registry: RegistryService;
  gc: GarbageCollection;
  lifecycle: ComposedLifecycle;
  /** The outbox and its publisher; its delivery workers run only once `events.start` is called. */
  events: ComposedEvents;
  /** The signature gate the registry asks before serving a manifest, and per-project signature policies. */
  signatures: ComposedSignatures;
  /** The scan queue, reports, vulnerability database and the vulnerability gate. */
  scanning: ComposedScanning;
}

/**
 * The metadata store and the RegistryService with every check and record that must commit with
 * each write, whoever writes — the server, or `wharf import --config` working on the same data:
 * the garbage collector's review queue, tag immutability, quota usage (and its quota events), and
 * the events outbox. The listeners run in that order, so a refused write costs no outbox rows.
 */
export async function composeRegistryCore(config: Config, deps: RegistryCoreDependencies): Promise<RegistryCore> {
  const { storage, logger, metrics } = deps;
  const metadata = new MetadataStore(
    await openDatabase(config.database, {
      onIdleError: (error) => logger.warn({ err: error }, 'an idle database connection failed; the pool reconnects'),
    }),
  );
  let gc: GarbageCollection | undefined;
  try {
    const cachedMetadata = withMetadataCache(metadata, config.storage.cache, deps.redis, metrics.registry);
    const gcConfig = deps.collectGarbage ? config : { ...config, gc: { ...config.gc, enabled: false } };
    gc = startGarbageCollection(gcConfig, metadata, cachedMetadata, storage, logger, metrics.gc);
    const events = composeEvents(config, { metadata, logger, metrics, locks: deps.locks(), version: deps.version });
    const lifecycle = await composeLifecycle(config, {
      metadata,
      logger,
      metrics: metrics.registry,
      locks: deps.locks(),
      events: events.publisher,
    });
    events.listen();
    const signatures = await composeSignatures(config, {
      metadata,
      cachedMetadata,
      storage,
      metrics: metrics.registry,
    });
    const scanning = composeScanning(config, { metadata, cachedMetadata, metrics: metrics.registry });
    const registry = new RegistryService(storage, cachedMetadata, {
      onManifestPulled: lifecycle.onManifestPulled,
      pullGate: allPullGates([signatures.gate, scanning.gate]),
      deleteEnabled: config.storage.delete.enabled,
      readOnly: config.storage.maintenance.readonly.enabled,
    });
    return { metadata, cachedMetadata, registry, gc, lifecycle, events, signatures, scanning };
  } catch (error) {
    await gc?.stop();
    await metadata.close();
    throw error;
  }
}
