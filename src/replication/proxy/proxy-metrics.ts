import { Counter, type Registry } from 'prom-client';

export type ProxyContent = 'manifest' | 'blob';
/**
 * hit: served from the cache; miss: fetched from the upstream; revalidated: a cached tag the
 * upstream confirmed; updated: a cached tag that moved upstream and was fetched again; stale: a
 * cached copy served because the upstream failed; error: nothing cached and the upstream failed.
 */
export type ProxyResult = 'hit' | 'miss' | 'revalidated' | 'updated' | 'stale' | 'error';

export interface ProxyMetrics {
  request(content: ProxyContent, result: ProxyResult): void;
  /** A blob miss: downloaded from the upstream, or linked from bytes the registry held already. */
  blob(outcome: 'fetched' | 'linked'): void;
  upstreamBytes(bytes: number): void;
}

export const uncountedProxy: ProxyMetrics = { request() {}, blob() {}, upstreamBytes() {} };

/** The pull-through cache's counters, in the registry's one metrics registry. */
export function createProxyMetrics(registry: Registry): ProxyMetrics {
  const registers = [registry];
  const requests = new Counter({
    name: 'wharf_proxy_requests_total',
    help: 'Pulls of proxied repositories, by content type and how the cache answered.',
    labelNames: ['type', 'result'] as const,
    registers,
  });
  const blobs = new Counter({
    name: 'wharf_proxy_blob_fetches_total',
    help: 'Blobs missing from the cache, downloaded from the upstream or linked from bytes the registry held.',
    labelNames: ['outcome'] as const,
    registers,
  });
  const bytes = new Counter({
    name: 'wharf_proxy_upstream_bytes_total',
    help: 'Blob bytes downloaded from upstream registries.',
    registers,
  });
  return {
    request: (type, result) => requests.inc({ type, result }),
    blob: (outcome) => blobs.inc({ outcome }),
    upstreamBytes: (count) => bytes.inc(count),
  };
}
