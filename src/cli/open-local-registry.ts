import { connectRedis } from '../cache/redis-connection.ts';
import { composeRegistryCore } from '../composition/registry-core.ts';
import { openStorage } from '../composition/storage.ts';
import type { Config } from '../config/index.ts';
import { LocalJobLocks } from '../coordination/job-lock.ts';
import { createLogger } from '../observability/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import { version } from './version.ts';

export interface LocalRegistry {
  service: RegistryService;
  close(): Promise<void>;
}

/**
 * The RegistryService `wharf serve` would build from this config — the same storage, database
 * (migrated as database.migrate says), metadata cache, and every listener inside each write (the
 * garbage collector's review queue, tag immutability, quota usage, the events outbox) — without the
 * HTTP server, for commands that work on the registry's own data (`wharf export --config`, `wharf
 * import --config`). The events their writes produce wait in the outbox until a server delivers
 * them. Warnings go to standard error, apart from the output.
 */
export async function openLocalRegistry(config: Config): Promise<LocalRegistry> {
  const logger = createLogger({ ...config.log, level: 'warn' }, process.stderr);
  const storage = await openStorage(config, logger);
  const redis = config.redis ? await connectRedis(config.redis, logger) : undefined;
  try {
    const core = await composeRegistryCore(config, {
      storage,
      logger,
      metrics: createMetrics(),
      redis,
      locks: () => new LocalJobLocks(),
      version,
      collectGarbage: false,
    });
    return {
      service: core.registry,
      async close() {
        await core.lifecycle.close();
        await core.events.close();
        await core.gc.stop();
        await core.metadata.close();
        await redis?.close();
      },
    };
  } catch (error) {
    await redis?.close();
    throw error;
  }
}
