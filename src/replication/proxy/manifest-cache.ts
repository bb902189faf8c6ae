import type { ManifestWithPayload } from '../../metadata/metadata-store.ts';
import type { Logger } from '../../observability/logger.ts';
import { type Digest, isDigest, parseDigest } from '../../oci/digest.ts';
import { isRegistryError, RegistryError } from '../../oci/errors.ts';
import { type Descriptor, parseManifest } from '../../oci/manifest.ts';
import { MediaTypes } from '../../oci/media-types.ts';
import { type AcceptedTypes, negotiateManifest } from '../../oci/negotiation.ts';
import { parseTag } from '../../oci/reference.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import type { BlobCache } from './blob-cache.ts';
import type { ProxyMetrics } from './proxy-metrics.ts';
import type { ProxyTarget } from './proxy-target.ts';
import { SingleFlight } from './single-flight.ts';
import type { TagCheckStore } from './tag-check-store.ts';
import { classify, type UpstreamError } from './upstream.ts';

export interface ManifestCacheOptions {
  logger: Logger;
  metrics: ProxyMetrics;
  /** Blobs of one fetched image downloaded at a time in the background. */
  blobConcurrency: number;
}

type ManifestHead = { digest: Digest } | undefined;
type UpstreamManifestHead = { digest: Digest; mediaType: string; size: number };

/** What a HEAD on a manifest tells: the headers of the GET, without the bytes. */
export interface ManifestDescription {
  digest: string;
  mediaType: string;
  size: number;
}

/**
 * Manifests of proxied repositories. A tag is served from the cache while the upstream confirmed
 * it within the TTL; after that a HEAD asks whether it moved (same digest: served, and the TTL
 * starts again; another digest: the new manifest is fetched). When the upstream cannot answer,
 * the cached copy is served. A digest names fixed bytes and is never asked again.
 *
 * A fetched index is stored at once (its children are fetched when pulled). A fetched image
 * manifest is stored once its blobs are: they are downloaded in the background, sharing the
 * downloads pullers start, and until then the manifest is served from memory.
 */
export class ManifestCache {
  private readonly fetches = new SingleFlight<ManifestWithPayload>();
  private readonly checks = new SingleFlight<ManifestHead>();
  private readonly pending = new Map<string, ManifestWithPayload>();

  constructor(
    private readonly registry: RegistryService,
    private readonly blobs: BlobCache,
    private readonly tagChecks: TagCheckStore,
    private readonly options: ManifestCacheOptions,
  ) {}

  /** The manifest a tag or digest names, negotiated against the client's Accept as a stored one would be. */
  async get(target: ProxyTarget, reference: string, accepted: AcceptedTypes): Promise<ManifestWithPayload> {
    const byTag = !reference.includes(':');
    const manifest = byTag
      ? await this.byTag(target, parseTag(reference))
      : await this.byDigest(target, parseDigest(reference));
    const outcome = negotiateManifest(manifest.mediaType, accepted, byTag);
    if (outcome === 'serve') return manifest;
    if (outcome === 'not-acceptable') {
      const kind = manifest.mediaType === MediaTypes.ociIndex ? 'OCI index' : 'OCI manifest';
      throw new RegistryError('MANIFEST_UNKNOWN', `${kind} found, but the Accept header does not support it`);
    }
    const child = defaultPlatformChild(manifest.payload);
    if (!child) {
      throw new RegistryError(
        'MANIFEST_UNKNOWN',
        'manifest list has no linux/amd64 image for a client that does not accept lists',
      );
    }
    return this.byDigest(target, child);
  }

  /**
   * What a HEAD answers: a cached manifest as GET would serve it, or else the upstream's own answer
   * to a HEAD. Nothing is fetched or stored, so asking whether an image exists costs the upstream a
   * HEAD and leaves the cache as it was. A client that accepts no list, asking for a tag naming
   * one, is answered by the GET path, which picks the list's default image.
   */
  async head(target: ProxyTarget, reference: string, accepted: AcceptedTypes): Promise<ManifestDescription> {
    const byTag = !reference.includes(':');
    const key = byTag ? parseTag(reference) : parseDigest(reference);
    if (await this.holds(target, key)) return this.get(target, reference, accepted);
    let head: UpstreamManifestHead | undefined;
    try {
      head = await target.upstream.headManifest(target.remoteName, reference);
    } catch (error) {
      if (isRegistryError(error)) throw error;
      this.options.metrics.request('manifest', 'error');
      throw classify(error).toRegistryError('manifest', reference);
    }
    if (head === undefined) {
      throw new RegistryError(
        'MANIFEST_UNKNOWN',
        `manifest unknown to the upstream: ${target.remoteName}:${reference}`,
      );
    }
    const outcome = negotiateManifest(head.mediaType, accepted, byTag);
    if (outcome === 'serve') {
      this.options.metrics.request('manifest', 'miss');
      return head;
    }
    if (outcome === 'not-acceptable') {
      const kind = head.mediaType === MediaTypes.ociIndex ? 'OCI index' : 'OCI manifest';
      throw new RegistryError('MANIFEST_UNKNOWN', `${kind} found, but the Accept header does not support it`);
    }
    return this.get(target, reference, accepted);
  }

  /** Whether the reference is answered from the cache: held, or fetched and waiting for its blobs. */
  private async holds(target: ProxyTarget, reference: string): Promise<boolean> {
    if (this.pending.has(keyOf(target, reference))) return true;
    return (await this.local(target, reference)) !== undefined;
  }

  private async byDigest(target: ProxyTarget, digest: Digest): Promise<ManifestWithPayload> {
    const cached = (await this.local(target, digest)) ?? this.pending.get(keyOf(target, digest));
    if (cached) {
      this.options.metrics.request('manifest', 'hit');
      return cached;
    }
    return this.fetchOrFail(target, digest);
  }

  private async byTag(target: ProxyTarget, tag: string): Promise<ManifestWithPayload> {
    // A manifest fetched for the tag and still waiting for its blobs is newer than a stored one.
    const pending = this.pending.get(keyOf(target, tag));
    if (pending) {
      this.options.metrics.request('manifest', 'hit');
      return pending;
    }
    const local = await this.local(target, tag);
    if (!local) return this.fetchOrFail(target, tag);
    const check = await this.tagChecks.find(target.localName, tag).catch(() => undefined);
    const ttl = target.tagTtlMs;
    if (check && check.digest === local.digest && Date.now() - check.checkedAt < ttl) {
      this.options.metrics.request('manifest', 'hit');
      return local;
    }
    return this.revalidate(target, tag, local);
  }

  /** A cached tag past its TTL: confirmed, replaced, or served stale when the upstream fails. */
  private async revalidate(target: ProxyTarget, tag: string, local: ManifestWithPayload): Promise<ManifestWithPayload> {
    let head: ManifestHead;
    try {
      head = await this.checks.run(keyOf(target, tag), () => target.upstream.headManifest(target.remoteName, tag));
    } catch (error) {
      return this.stale(target, tag, local, classify(error));
    }
    if (head === undefined) {
      this.options.logger.info(
        { repository: target.localName, tag, upstream: target.upstream.url },
        'a cached tag is gone from the upstream; the cached copy is served',
      );
      this.options.metrics.request('manifest', 'stale');
      return local;
    }
    if (head.digest === local.digest) {
      await this.recordCheck(target, tag, local.digest);
      this.options.metrics.request('manifest', 'revalidated');
      return local;
    }
    try {
      const fetched = await this.fetch(target, tag);
      this.options.metrics.request('manifest', 'updated');
      return fetched;
    } catch (error) {
      return this.stale(target, tag, local, classify(error));
    }
  }

  private stale(
    target: ProxyTarget,
    tag: string,
    local: ManifestWithPayload,
    error: UpstreamError,
  ): ManifestWithPayload {
    this.options.logger.warn(
      { repository: target.localName, tag, upstream: target.upstream.url, reason: error.kind, err: error },
      'the upstream could not revalidate a cached tag; the cached copy is served',
    );
    this.options.metrics.request('manifest', 'stale');
    return local;
  }

  private async fetchOrFail(target: ProxyTarget, reference: string): Promise<ManifestWithPayload> {
    try {
      const fetched = await this.fetch(target, reference);
      this.options.metrics.request('manifest', 'miss');
      return fetched;
    } catch (error) {
      if (isRegistryError(error)) throw error;
      this.options.metrics.request('manifest', 'error');
      throw classify(error).toRegistryError('manifest', reference);
    }
  }

  /** One upstream GET per repository and reference at a time in this process. */
  private fetch(target: ProxyTarget, reference: string): Promise<ManifestWithPayload> {
    return this.fetches.run(keyOf(target, reference), async () => {
      const content = await target.upstream.getManifest(target.remoteName, reference);
      const manifest: ManifestWithPayload = {
        digest: content.digest,
        mediaType: content.mediaType,
        artifactType: null,
        size: content.bytes.length,
        subjectDigest: null,
        annotations: null,
        payload: content.bytes,
      };
      await this.admit(target, reference.includes(':') ? undefined : reference, manifest);
      return manifest;
    });
  }

  /** Stores a fetched manifest now (an index, or an image whose blobs are all here) or once its blobs are. */
  private async admit(target: ProxyTarget, tag: string | undefined, manifest: ManifestWithPayload): Promise<void> {
    if (tag !== undefined) await this.recordCheck(target, tag, manifest.digest);
    let blobs: Descriptor[];
    try {
      blobs = parseManifest(manifest.payload, manifest.mediaType).blobs;
    } catch (error) {
      this.options.logger.warn(
        { err: error, repository: target.localName, digest: manifest.digest },
        'the upstream manifest is served but not cached: the registry cannot store it',
      );
      return;
    }
    const missing: Descriptor[] = [];
    for (const blob of blobs) {
      const held = await this.registry.statBlob(target.localName, blob.digest).then(
        () => true,
        () => false,
      );
      if (!held) missing.push(blob);
    }
    if (missing.length === 0) {
      await this.store(target, tag, manifest);
      return;
    }
    const keys = [keyOf(target, manifest.digest), ...(tag === undefined ? [] : [keyOf(target, tag)])];
    for (const key of keys) this.pending.set(key, manifest);
    void this.complete(target, tag, manifest, missing).finally(() => {
      for (const key of keys) if (this.pending.get(key) === manifest) this.pending.delete(key);
    });
  }

  private async complete(
    target: ProxyTarget,
    tag: string | undefined,
    manifest: ManifestWithPayload,
    missing: readonly Descriptor[],
  ): Promise<void> {
    const queue = [...missing];
    const worker = async () => {
      for (let blob = queue.shift(); blob !== undefined; blob = queue.shift()) {
        await this.blobs.ensure(target, blob.digest);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.options.blobConcurrency, queue.length) }, worker));
    } catch (error) {
      this.options.logger.warn(
        { err: error, repository: target.localName, digest: manifest.digest, upstream: target.upstream.url },
        'a proxied image could not be cached: one of its blobs could not be fetched',
      );
      return;
    }
    await this.store(target, tag, manifest);
  }

  /** Stores through RegistryService, so quotas, retention and events apply as to a push. */
  private async store(target: ProxyTarget, tag: string | undefined, manifest: ManifestWithPayload): Promise<void> {
    try {
      await this.registry.putManifest(target.localName, tag ?? manifest.digest, manifest.payload, manifest.mediaType, {
        childrenMayBeMissing: true,
      });
    } catch (error) {
      this.options.logger.warn(
        { err: error, repository: target.localName, digest: manifest.digest, tag },
        'a proxied manifest was served but could not be stored in the cache',
      );
    }
  }

  private async recordCheck(target: ProxyTarget, tag: string, digest: string): Promise<void> {
    await this.tagChecks.record(target.localName, tag, digest).catch((error: unknown) => {
      this.options.logger.warn({ err: error, repository: target.localName, tag }, 'could not record a tag check');
    });
  }

  private async local(target: ProxyTarget, reference: string): Promise<ManifestWithPayload | undefined> {
    try {
      return await this.registry.getManifest(target.localName, reference, undefined);
    } catch (error) {
      if (isRegistryError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NAME_UNKNOWN')) {
        return undefined;
      }
      throw error;
    }
  }
}

function keyOf(target: ProxyTarget, reference: string): string {
  return `${target.localName}:${reference}`;
}

function defaultPlatformChild(payload: Buffer): Digest | undefined {
  const list = JSON.parse(payload.toString('utf8')) as {
    manifests?: Array<{ digest?: string; platform?: { os?: string; architecture?: string } }>;
  };
  const child = list.manifests?.find(
    (entry) => entry.platform?.os === 'linux' && entry.platform.architecture === 'amd64',
  );
  return child?.digest && isDigest(child.digest) ? parseDigest(child.digest) : undefined;
}
