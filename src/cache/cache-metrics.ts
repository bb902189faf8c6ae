import { Counter, type Registry } from 'prom-client';

export type CacheEvent = 'Request' | 'Hit' | 'Miss' | 'Error';

/** Counts cache lookups and failures. */
export interface CacheMetrics {
  count(event: CacheEvent): void;
}

/**
 * Distribution's `registry_storage_cache_total{type}` (Request, Hit, Miss, Error), so dashboards
 * written for its blob descriptor cache read Wharf's metadata cache.
 */
export function registerCacheMetrics(registry: Registry): CacheMetrics {
  const counter = new Counter({
    name: 'registry_storage_cache_total',
    help: 'The number of cache request received',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  return { count: (event) => counter.inc({ type: event }) };
}

export const uncountedCache: CacheMetrics = { count: () => {} };
