import type { Registry } from 'prom-client';
import type { Config } from '../config/config.ts';
import { ConfigError } from '../config/config-error.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { registerCacheMetrics } from './cache-metrics.ts';
import { CachedMetadataStore } from './cached-metadata-store.ts';
import { MemoryCacheStore } from './memory-cache-store.ts';
import { RedisCacheStore } from './redis-cache-store.ts';
import type { RedisConnection } from './redis-connection.ts';

/**
 * The metadata store as `storage.cache.blobdescriptor` asks: behind a Redis cache shared by all
 * instances (`redis`), behind a cache in this process (`inmemory`: blob sizes and manifests by
 * digest, not tags, as other instances' writes do not reach it), or as it is.
 */
export function withMetadataCache(
  metadata: MetadataStore,
  settings: Config['storage']['cache'],
  redis: RedisConnection | undefined,
  metrics: Registry,
): MetadataStore {
  if (settings.blobdescriptor === undefined) return metadata;
  const counts = registerCacheMetrics(metrics);
  switch (settings.blobdescriptor) {
    case 'inmemory':
      return new CachedMetadataStore(metadata, new MemoryCacheStore(settings.blobdescriptorsize), {
        tags: false,
        metrics: counts,
      });
    case 'redis':
      if (!redis) {
        throw new ConfigError(
          'storage.cache.blobdescriptor: redis needs the redis section (redis.addr or redis.addrs)',
        );
      }
      return new CachedMetadataStore(metadata, new RedisCacheStore(redis, () => counts.count('Error')), {
        metrics: counts,
      });
  }
}
