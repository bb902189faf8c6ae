import type { ManifestWithPayload, Page } from '../../metadata/metadata-store.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Digest } from '../../oci/digest.ts';
import { isRegistryError } from '../../oci/errors.ts';
import type { AcceptedTypes } from '../../oci/negotiation.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import { BlobCache, type BlobInFlight } from './blob-cache.ts';
import { ManifestCache, type ManifestDescription } from './manifest-cache.ts';
import type { ProxyMetrics } from './proxy-metrics.ts';
import type { ProxyRouter } from './proxy-router.ts';
import type { ProxyTarget } from './proxy-target.ts';
import type { TagCheckStore } from './tag-check-store.ts';
import { classify, UpstreamError } from './upstream.ts';
import type { UpstreamPool } from './upstream-pool.ts';

export interface PullThroughCacheDependencies {
  registry: RegistryService;
  router: ProxyRouter;
  upstreams: UpstreamPool;
  tagChecks: TagCheckStore;
  /** Where blobs being fetched are spooled for the pullers reading them. */
  spoolDirectory: string;
  logger: Logger;
  metrics: ProxyMetrics;
}

/** How a proxied blob is served: from the registry, or from the download in flight. */
export type ProxiedBlob = { stored: true } | { stored: false; download: BlobInFlight };

/**
 * The pull-through cache as the distribution API uses it: which names are proxied, and their
 * manifests, blobs and tags, from the registry when cached and from the upstream otherwise.
 * Everything it stores goes through RegistryService, as a push would.
 */
export class PullThroughCache {
  readonly router: ProxyRouter;
  private readonly registry: RegistryService;
  private readonly blobs: BlobCache;
  private readonly manifests: ManifestCache;
  private readonly upstreams: UpstreamPool;
  private readonly metrics: ProxyMetrics;
  private readonly logger: Logger;

  constructor(deps: PullThroughCacheDependencies) {
    this.router = deps.router;
    this.registry = deps.registry;
    this.upstreams = deps.upstreams;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.blobs = new BlobCache(deps.registry, {
      spoolDirectory: deps.spoolDirectory,
      logger: deps.logger,
      metrics: deps.metrics,
    });
    this.manifests = new ManifestCache(deps.registry, this.blobs, deps.tagChecks, {
      logger: deps.logger,
      metrics: deps.metrics,
      blobConcurrency: 3,
    });
  }

  resolve(name: string, read: boolean): Promise<ProxyTarget | undefined> {
    return this.router.resolve(name, read);
  }

  manifest(target: ProxyTarget, reference: string, accepted: AcceptedTypes): Promise<ManifestWithPayload> {
    return this.manifests.get(target, reference, accepted);
  }

  /** For HEAD: the manifest's digest, type and size, from the cache or an upstream HEAD; caches nothing new. */
  manifestHead(target: ProxyTarget, reference: string, accepted: AcceptedTypes): Promise<ManifestDescription> {
    return this.manifests.head(target, reference, accepted);
  }

  /** The blob's size, from the registry or else the upstream. */
  async statBlob(target: ProxyTarget, digest: Digest): Promise<number> {
    try {
      return await this.registry.statBlob(target.localName, digest);
    } catch (error) {
      if (!isBlobUnknown(error)) throw error;
    }
    let size: number | undefined;
    try {
      size = await this.blobs.statRemote(target, digest);
    } catch (error) {
      throw classify(error).toRegistryError('blob', digest);
    }
    if (size === undefined) throw new UpstreamError('not-found', 'no such blob').toRegistryError('blob', digest);
    return size;
  }

  /** The blob from the registry when stored, else from its download (started by this miss or joined). */
  async blob(target: ProxyTarget, digest: Digest): Promise<ProxiedBlob> {
    if (await this.held(target, digest)) {
      this.metrics.request('blob', 'hit');
      return { stored: true };
    }
    let download: BlobInFlight | undefined;
    try {
      download = await this.blobs.open(target, digest);
    } catch (error) {
      this.metrics.request('blob', 'error');
      throw classify(error).toRegistryError('blob', digest);
    }
    this.metrics.request('blob', 'miss');
    return download ? { stored: false, download } : { stored: true };
  }

  /**
   * A page of the upstream's tags; the cached ones when the upstream cannot answer, and its error
   * when nothing is cached either.
   */
  async listTags(target: ProxyTarget, page: Page): Promise<string[]> {
    try {
      return await target.upstream.listTags(target.remoteName, page.limit, page.after);
    } catch (error) {
      const failure = classify(error);
      try {
        const cached = await this.registry.listTags(target.localName, page);
        this.logger.warn(
          { repository: target.localName, upstream: target.upstream.url, reason: failure.kind },
          'the upstream could not list tags; the cached ones are listed',
        );
        return cached;
      } catch (localError) {
        if (!isRegistryError(localError) || localError.code !== 'NAME_UNKNOWN') throw localError;
        throw failure.toRegistryError('tags of', target.localName);
      }
    }
  }

  async close(): Promise<void> {
    await this.upstreams.close();
  }

  private async held(target: ProxyTarget, digest: Digest): Promise<boolean> {
    try {
      await this.registry.statBlob(target.localName, digest);
      return true;
    } catch (error) {
      if (isBlobUnknown(error)) return false;
      throw error;
    }
  }
}

function isBlobUnknown(error: unknown): boolean {
  return isRegistryError(error) && error.code === 'BLOB_UNKNOWN';
}
