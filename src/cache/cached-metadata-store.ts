import type { Transaction } from 'kysely';
import type { MetadataChange } from '../metadata/metadata-changes.ts';
import {
  type DeletedRepository,
  type ManifestRecord,
  type ManifestWithPayload,
  MetadataStore,
  type NewManifestRecord,
} from '../metadata/metadata-store.ts';
import type { Database } from '../metadata/schema.ts';
import { type CacheMetrics, uncountedCache } from './cache-metrics.ts';
import type { CacheSlot, CacheStore } from './cache-store.ts';
import { decodeManifest, decodeSize, encodeManifest, encodeSize, recordOf } from './metadata-codec.ts';

/**
 * Tags move, so their entries live briefly even though every write invalidates them: the TTL bounds
 * the staleness left by a write whose invalidation could not reach the cache.
 */
const tagTtlMs = 30_000;
/** Manifests by digest and blob sizes never change; they go away only by deletion, which invalidates them. */
const contentTtlMs = 10 * 60_000;
/** Larger manifests (rare: huge indexes) are read from the database each time. */
const maxCachedManifestBytes = 1024 * 1024;

export interface CachedMetadataOptions {
  /**
   * Whether tags are cached (the default). A cache whose invalidations other instances do not see
   * leaves tags out: a moved tag must never be served stale, while content found by digest only
   * disappears by deletion.
   */
  tags?: boolean;
  metrics?: CacheMetrics;
}

/** Keys carry a format version, so instances of different versions never read each other's entries. */
const prefix = 'wharf:1:';
const keys = {
  blob: (digest: string) => `${prefix}blob:${digest}`,
  link: (repository: string, digest: string) => `${prefix}link:${repository}@${digest}`,
  manifest: (repository: string, digest: string) => `${prefix}manifest:${repository}@${digest}`,
  /** A group: one field per tag, all invalidated by any tag write in the repository. */
  tags: (repository: string) => `${prefix}tags:${repository}`,
};

/**
 * The MetadataStore with a cache in front of the reads of the pull path: blob sizes (per
 * repository and registry-wide), manifests by digest and tags. Every write that can change one of
 * them invalidates it after the database commit, so a pull after a push sees the push, on any
 * instance. Misses are not cached: a blob or tag pushed through another instance is visible at once.
 * Everything else goes to the database as before.
 */
export class CachedMetadataStore extends MetadataStore {
  constructor(
    private readonly inner: MetadataStore,
    private readonly cache: CacheStore,
    private readonly options: CachedMetadataOptions = {},
  ) {
    super(inner.db);
  }

  override findRepositoryBlob(repository: string, digest: string): Promise<number | undefined> {
    return this.readThrough({ key: keys.link(repository, digest) }, contentTtlMs, sizeCodec, () =>
      this.inner.findRepositoryBlob(repository, digest),
    );
  }

  override findBlob(digest: string): Promise<number | undefined> {
    return this.readThrough({ key: keys.blob(digest) }, contentTtlMs, sizeCodec, () => this.inner.findBlob(digest));
  }

  override async findManifestByDigest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const manifest = await this.loadManifestByDigest(repository, digest);
    return manifest && recordOf(manifest);
  }

  override async findManifestByTag(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    const manifest = await this.loadManifestByTag(repository, tag);
    return manifest && recordOf(manifest);
  }

  override loadManifestByDigest(repository: string, digest: string): Promise<ManifestWithPayload | undefined> {
    return this.readThrough({ key: keys.manifest(repository, digest) }, contentTtlMs, manifestCodec, () =>
      this.inner.loadManifestByDigest(repository, digest),
    );
  }

  override loadManifestByTag(repository: string, tag: string): Promise<ManifestWithPayload | undefined> {
    if (this.options.tags === false) return this.inner.loadManifestByTag(repository, tag);
    return this.readThrough({ key: keys.tags(repository), field: tag }, tagTtlMs, manifestCodec, () =>
      this.inner.loadManifestByTag(repository, tag),
    );
  }

  override async commitBlob(repository: string, digest: string, size: number): Promise<void> {
    try {
      await this.inner.commitBlob(repository, digest, size);
    } finally {
      await this.cache.invalidate([keys.link(repository, digest), keys.blob(digest)]);
    }
  }

  override async linkExistingBlob(repository: string, digest: string): Promise<number | undefined> {
    try {
      return await this.inner.linkExistingBlob(repository, digest);
    } finally {
      await this.cache.invalidate([keys.link(repository, digest)]);
    }
  }

  override async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    try {
      return await this.inner.unlinkBlob(repository, digest);
    } finally {
      await this.cache.invalidate([keys.link(repository, digest)]);
    }
  }

  override async putManifest(record: NewManifestRecord): Promise<void> {
    try {
      await this.inner.putManifest(record);
    } finally {
      const tags = record.tag === undefined ? [] : [keys.tags(record.repository)];
      await this.cache.invalidate([keys.manifest(record.repository, record.digest), ...tags]);
    }
  }

  override async deleteTag(repository: string, tag: string): Promise<boolean> {
    try {
      return await this.inner.deleteTag(repository, tag);
    } finally {
      await this.cache.invalidate([keys.tags(repository)]);
    }
  }

  /** The manifest's tags go with it (foreign keys), whichever they are: all of the repository's are invalidated. */
  override async deleteManifest(repository: string, digest: string): Promise<boolean> {
    try {
      return await this.inner.deleteManifest(repository, digest);
    } finally {
      await this.cache.invalidate([keys.manifest(repository, digest), keys.tags(repository)]);
    }
  }

  override async deleteRepository(repository: string): Promise<DeletedRepository | undefined> {
    const deleted = await this.inner.deleteRepository(repository);
    if (deleted) {
      await this.cache.invalidate([
        keys.tags(repository),
        ...deleted.manifestDigests.map((digest) => keys.manifest(repository, digest)),
        ...deleted.blobDigests.map((digest) => keys.link(repository, digest)),
      ]);
    }
    return deleted;
  }

  /** Whatever the changes reported touch is invalidated, as for the store's own writes. */
  override async writeWithChanges<T>(
    work: (trx: Transaction<Database>, report: (change: MetadataChange) => Promise<void>) => Promise<T>,
  ): Promise<T> {
    const touched = new Set<string>();
    try {
      return await this.inner.writeWithChanges((trx, report) =>
        work(trx, async (change) => {
          for (const key of keysChangedBy(change)) touched.add(key);
          await report(change);
        }),
      );
    } finally {
      if (touched.size > 0) await this.cache.invalidate([...touched]);
    }
  }

  /**
   * The cached value, or the database's. A reader that got the lease stores what it read, unless a
   * write invalidated the slot meanwhile; the store is not awaited, the answer does not depend on it.
   */
  private async readThrough<T>(
    slot: CacheSlot,
    ttlMs: number,
    codec: Codec<T>,
    load: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const metrics = this.options.metrics ?? uncountedCache;
    metrics.count('Request');
    const found = await this.cache.lookup(slot, ttlMs);
    if (found.hit) {
      const value = codec.decode(found.value);
      if (value !== undefined) {
        metrics.count('Hit');
        return value;
      }
    }
    metrics.count('Miss');
    const value = await load();
    const lease = found.hit ? undefined : found.lease;
    if (value !== undefined && lease !== undefined) {
      const encoded = codec.encode(value);
      if (encoded !== undefined) void this.cache.fill(slot, lease, encoded, ttlMs);
    }
    return value;
  }
}

function keysChangedBy(change: MetadataChange): string[] {
  switch (change.type) {
    case 'blob.committed':
      return [keys.link(change.repository, change.digest), keys.blob(change.digest)];
    case 'blob.mounted':
    case 'blob.unlinked':
      return [keys.link(change.repository, change.digest)];
    case 'manifest.stored':
    case 'manifest.deleted':
      return [keys.manifest(change.repository, change.digest), keys.tags(change.repository)];
    case 'tag.deleted':
      return [keys.tags(change.repository)];
    case 'repository.deleted':
      return [
        keys.tags(change.repository),
        ...change.manifestDigests.map((digest) => keys.manifest(change.repository, digest)),
        ...change.blobDigests.map((digest) => keys.link(change.repository, digest)),
      ];
  }
}

interface Codec<T> {
  encode(value: T): Buffer | undefined;
  decode(bytes: Buffer): T | undefined;
}

const sizeCodec: Codec<number> = { encode: encodeSize, decode: decodeSize };

const manifestCodec: Codec<ManifestWithPayload> = {
  encode: (manifest) => (manifest.payload.length > maxCachedManifestBytes ? undefined : encodeManifest(manifest)),
  decode: decodeManifest,
};
