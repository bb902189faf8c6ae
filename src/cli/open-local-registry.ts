import { Registry } from 'prom-client';
import { withMetadataCache } from '../cache/metadata-cache.ts';
import { connectRedis } from '../cache/redis-connection.ts';
import { composeLifecycle } from '../composition/lifecycle.ts';
import { openStorage } from '../composition/storage.ts';
import type { Config } from '../config/index.ts';
import { LocalJobLocks } from '../coordination/job-lock.ts';
import { gcChangeListener } from '../gc/gc-change-listener.ts';
import { reviewSettingsOf } from '../gc/review-settings.ts';
import { MetadataStore } from '../metadata/metadata-store.ts';
import { openDatabase } from '../metadata/open-database.ts';
import { createLogger } from '../observability/logger.ts';
import { RegistryService } from '../registry/registry-service.ts';

export interface LocalRegistry {
  service: RegistryService;
  close(): Promise<void>;
}

/**
 * The RegistryService `wharf serve` would build from this config — the same storage, database
 * (migrated as database.migrate says), metadata cache, and the checks inside every write that
 * must hold whoever writes (tag immutability, quotas, the garbage collector's review queue) —
 * without the HTTP server, for commands that work on the registry's own data (`wharf export
 * --config`, `wharf import --config`). Warnings go to standard error, apart from the output.
 */
export async function openLocalRegistry(config: Config): Promise<LocalRegistry> {
  const logger = createLogger({ ...config.log, level: 'warn' }, process.stderr);
  const storage = await openStorage(config, logger);
  const metadata = new MetadataStore(await openDatabase(config.database));
  try {
    metadata.addChangeListener(gcChangeListener(reviewSettingsOf(config.gc), storage));
    const lifecycle = await composeLifecycle(config, {
      metadata,
      logger,
      metrics: new Registry(),
      locks: new LocalJobLocks(),
    });
    const redis = config.redis ? await connectRedis(config.redis, logger) : undefined;
    const cached = withMetadataCache(metadata, config.storage.cache, redis, new Registry());
    const service = new RegistryService(storage, cached, {
      deleteEnabled: config.storage.delete.enabled,
      readOnly: config.storage.maintenance.readonly.enabled,
    });
    return {
      service,
      async close() {
        await lifecycle.close();
        await metadata.close();
        await redis?.close();
      },
    };
  } catch (error) {
    await metadata.close();
    throw error;
  }
}
