import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ManifestRecord, ManifestWithPayload, MetadataStore, Page } from '../metadata/metadata-store.ts';
import { type Digest, digestAlgorithm, digestOf, isDigest, parseDigest } from '../oci/digest.ts';
import { RegistryError } from '../oci/errors.ts';
import { type Descriptor, parseManifest } from '../oci/manifest.ts';
import { MediaTypes } from '../oci/media-types.ts';
import { type AcceptedTypes, negotiateManifest } from '../oci/negotiation.ts';
import { parseTag } from '../oci/reference.ts';
import type { PullReader } from '../policy/signatures/signature-gate.ts';
import { type ByteRange, type StorageDriver, StorageNotFoundError } from '../storage/driver.ts';
import { type AppendOptions, UploadSessions } from './upload-sessions.ts';

/** How many holders of a blob automatic content discovery considers when checking read access. */
const mountDiscoveryLimit = 100;

export interface RegistryOptions {
  deleteEnabled: boolean;
  readOnly: boolean;
  /** Told of every manifest served by GET (retention's last-pulled time); must not block or throw. */
  onManifestPulled?(repository: string, digest: string): void;
  /** Asked before a manifest is served to a reader of the distribution API (the signature gate). */
  pullGate?: PullGate;
}

/** Refuses (by throwing) a manifest read that a pull policy forbids. */
export interface PullGate {
  check(repository: string, reference: string, manifest: ManifestRecord, reader: PullReader): Promise<void>;
}

export interface BlobContent {
  size: number;
  stream: Readable;
}

export interface ReferrersPage {
  manifests: Descriptor[];
  /** The last digest of this page when more may follow. */
  next: string | undefined;
}

/**
 * The registry's domain operations, whatever the transport. Repository names, tags and digests
 * arrive validated by the caller; this layer enforces the rules between them.
 */
export class RegistryService {
  readonly uploads: UploadSessions;

  constructor(
    private readonly storage: StorageDriver,
    private readonly metadata: MetadataStore,
    private readonly options: RegistryOptions,
  ) {
    this.uploads = new UploadSessions(storage, metadata);
  }

  // Blobs

  async statBlob(repository: string, digest: Digest): Promise<number> {
    const size = await this.metadata.findRepositoryBlob(repository, digest);
    if (size === undefined) throw blobUnknown(digest);
    return size;
  }

  async openBlob(repository: string, digest: Digest, range?: ByteRange): Promise<BlobContent> {
    const size = await this.statBlob(repository, digest);
    try {
      return { size, stream: await this.storage.readBlob(digest, range) };
    } catch (error) {
      if (error instanceof StorageNotFoundError) throw blobUnknown(digest);
      throw error;
    }
  }

  /**
   * Writes the blob (or a range) into `destination` without ending it, on the storage's fast path
   * when it has one. Throws BLOB_UNKNOWN before writing anything when the bytes are missing.
   */
  async sendBlob(digest: Digest, range: ByteRange | undefined, destination: Writable): Promise<void> {
    try {
      if (this.storage.sendBlob) {
        await this.storage.sendBlob(digest, range, destination);
        return;
      }
      await pipeline(await this.storage.readBlob(digest, range), destination, { end: false });
    } catch (error) {
      if (error instanceof StorageNotFoundError) throw blobUnknown(digest);
      throw error;
    }
  }

  blobRedirectURL(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.storage.blobRedirectURL(digest, method);
  }

  async deleteBlob(repository: string, digest: Digest): Promise<void> {
    this.assertDeletable();
    if (!(await this.metadata.unlinkBlob(repository, digest))) throw blobUnknown(digest);
  }

  /**
   * Cross-repository mount. With `from`, only a blob that repository holds; without it, any blob
   * the registry holds (automatic content discovery). Returns the size, or undefined to fall back
   * to a normal upload.
   */
  async mountBlob(
    repository: string,
    digest: Digest,
    from: string | undefined,
    mayRead: (repositories: readonly string[]) => Promise<boolean> = async () => true,
  ): Promise<number | undefined> {
    this.assertWritable();
    const holders =
      from === undefined
        ? await this.metadata.repositoriesHoldingBlob(digest, mountDiscoveryLimit)
        : (await this.metadata.repositoryHoldsBlob(from, digest))
          ? [from]
          : [];
    if (holders.length === 0 || !(await mayRead(holders))) return undefined;
    return this.metadata.linkExistingBlob(repository, digest);
  }

  // Uploads

  startUpload(repository: string): Promise<string> {
    this.assertWritable();
    return this.uploads.start(repository);
  }

  uploadSize(repository: string, id: string): Promise<number> {
    return this.uploads.size(repository, id);
  }

  appendUpload(repository: string, id: string, source: Readable, options: AppendOptions): Promise<number> {
    this.assertWritable();
    return this.uploads.append(repository, id, source, options);
  }

  completeUpload(repository: string, id: string, digest: Digest, lastChunk?: Readable, contentLength?: number) {
    this.assertWritable();
    return this.uploads.commit(repository, id, digest, lastChunk, contentLength);
  }

  cancelUpload(repository: string, id: string): Promise<void> {
    this.assertWritable();
    return this.uploads.cancel(repository, id);
  }

  /** A whole blob in one request (POST with ?digest=). */
  async pushBlob(repository: string, digest: Digest, source: Readable, contentLength?: number): Promise<number> {
    const id = await this.startUpload(repository);
    try {
      return await this.uploads.commit(repository, id, digest, source, contentLength);
    } catch (error) {
      await this.uploads.cancel(repository, id).catch(() => {});
      throw error;
    }
  }

  // Manifests

  async putManifest(
    repository: string,
    reference: string,
    payload: Buffer,
    contentType: string | undefined,
    options: { childrenMayBeMissing?: boolean } = {},
  ): Promise<{ digest: Digest; subject: Digest | undefined }> {
    this.assertWritable();
    let digest: Digest;
    let tag: string | undefined;
    if (reference.includes(':')) {
      const expected = parseDigest(reference);
      digest = digestOf(payload, digestAlgorithm(expected));
      if (digest !== expected) {
        throw new RegistryError('DIGEST_INVALID', `manifest digest ${digest} does not match ${expected}`);
      }
    } else {
      tag = parseTag(reference);
      digest = digestOf(payload);
    }
    const manifest = parseManifest(payload, contentType);
    await this.metadata.putManifest({
      repository,
      digest,
      mediaType: manifest.mediaType,
      artifactType: manifest.artifactType,
      payload,
      subjectDigest: manifest.subject?.digest,
      annotations: manifest.annotations,
      blobDigests: manifest.blobs.map((blob) => blob.digest),
      childDigests: manifest.manifests.map((child) => child.digest),
      tag,
      childrenMayBeMissing: options.childrenMayBeMissing,
    });
    return { digest, subject: manifest.subject?.digest };
  }

  /**
   * Manifest metadata without the bytes (HEAD). A `reader` is a client of the distribution API,
   * whose reads the pull gate judges; replication, the proxy cache and export read without one.
   */
  async statManifest(
    repository: string,
    reference: string,
    accepted: AcceptedTypes,
    reader?: PullReader,
  ): Promise<ManifestRecord> {
    const byTag = !reference.includes(':');
    const record = byTag
      ? await this.metadata.findManifestByTag(repository, parseTag(reference))
      : await this.metadata.findManifestByDigest(repository, parseDigest(reference));
    if (!record) throw manifestUnknown(reference);
    if (reader) await this.options.pullGate?.check(repository, reference, record, reader);
    const outcome = negotiateManifest(record.mediaType, accepted, byTag);
    if (outcome === 'serve') return record;
    return this.negotiated(repository, await this.loadManifest(repository, reference), outcome);
  }

  /** The manifest and its bytes (GET); `reader` as for statManifest. */
  async getManifest(
    repository: string,
    reference: string,
    accepted: AcceptedTypes,
    reader?: PullReader,
  ): Promise<ManifestWithPayload> {
    const byTag = !reference.includes(':');
    const manifest = await this.loadManifest(repository, reference);
    // The addressed manifest is judged: an index's signature covers the child negotiation may serve.
    if (reader) await this.options.pullGate?.check(repository, reference, manifest, reader);
    const outcome = negotiateManifest(manifest.mediaType, accepted, byTag);
    const served = outcome === 'serve' ? manifest : await this.negotiated(repository, manifest, outcome);
    this.options.onManifestPulled?.(repository, served.digest);
    return served;
  }

  async deleteManifest(repository: string, reference: string): Promise<void> {
    this.assertDeletable();
    if (reference.includes(':')) {
      const digest = parseDigest(reference);
      if (!(await this.metadata.deleteManifest(repository, digest))) throw manifestUnknown(reference);
      return;
    }
    if (!(await this.metadata.deleteTag(repository, parseTag(reference)))) throw manifestUnknown(reference);
  }

  /** Deletes the repository with every manifest, tag and blob link in it; gone from the catalog at once. */
  async deleteRepository(repository: string): Promise<void> {
    this.assertDeletable();
    if ((await this.metadata.deleteRepository(repository)) === undefined) {
      throw new RegistryError('NAME_UNKNOWN', `repository "${repository}" is not known to the registry`, {
        detail: { name: repository },
      });
    }
  }

  // Listings

  async listTags(repository: string, page: Page): Promise<string[]> {
    const tags = await this.metadata.listTags(repository, page);
    if (tags === undefined) {
      throw new RegistryError('NAME_UNKNOWN', `repository "${repository}" is not known to the registry`, {
        detail: { name: repository },
      });
    }
    return tags;
  }

  repositoryExists(name: string): Promise<boolean> {
    return this.metadata.repositoryExists(name);
  }

  listRepositories(page: Page): Promise<string[]> {
    return this.metadata.listRepositories(page);
  }

  async listReferrers(
    repository: string,
    subject: Digest,
    artifactType: string | undefined,
    page: Page,
  ): Promise<ReferrersPage> {
    const rows = await this.metadata.listReferrers(repository, subject, artifactType, {
      limit: page.limit + 1,
      after: page.after,
    });
    const more = rows.length > page.limit;
    const pageRows = more ? rows.slice(0, page.limit) : rows;
    return {
      manifests: pageRows.map(toReferrerDescriptor),
      next: more ? pageRows.at(-1)?.digest : undefined,
    };
  }

  async ping(): Promise<void> {
    await Promise.all([this.storage.ping(), this.metadata.ping()]);
  }

  private async loadManifest(repository: string, reference: string): Promise<ManifestWithPayload> {
    const manifest = reference.includes(':')
      ? await this.metadata.loadManifestByDigest(repository, parseDigest(reference))
      : await this.metadata.loadManifestByTag(repository, parseTag(reference));
    if (!manifest) throw manifestUnknown(reference);
    return manifest;
  }

  private async negotiated(
    repository: string,
    manifest: ManifestWithPayload,
    outcome: 'default-platform' | 'not-acceptable',
  ): Promise<ManifestWithPayload> {
    if (outcome === 'not-acceptable') {
      const kind = manifest.mediaType === MediaTypes.ociIndex ? 'OCI index' : 'OCI manifest';
      throw new RegistryError('MANIFEST_UNKNOWN', `${kind} found, but the Accept header does not support it`);
    }
    const child = defaultPlatformChild(manifest.payload);
    const resolved = child && (await this.metadata.loadManifestByDigest(repository, child));
    if (!resolved) {
      throw new RegistryError(
        'MANIFEST_UNKNOWN',
        'manifest list has no linux/amd64 image for a client that does not accept lists',
      );
    }
    return resolved;
  }

  private assertWritable(): void {
    if (this.options.readOnly) {
      throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode (storage.maintenance.readonly)');
    }
  }

  private assertDeletable(): void {
    this.assertWritable();
    if (!this.options.deleteEnabled) {
      throw new RegistryError('UNSUPPORTED', 'deletes are disabled (storage.delete.enabled)');
    }
  }
}

function defaultPlatformChild(payload: Buffer): string | undefined {
  const list = JSON.parse(payload.toString('utf8')) as {
    manifests?: Array<{ digest?: string; platform?: { os?: string; architecture?: string } }>;
  };
  const child = list.manifests?.find(
    (entry) => entry.platform?.os === 'linux' && entry.platform.architecture === 'amd64',
  );
  return child?.digest && isDigest(child.digest) ? child.digest : undefined;
}

function toReferrerDescriptor(record: ManifestRecord): Descriptor {
  const descriptor: Descriptor = { mediaType: record.mediaType, digest: record.digest as Digest, size: record.size };
  if (record.artifactType) descriptor.artifactType = record.artifactType;
  if (record.annotations) descriptor.annotations = JSON.parse(record.annotations) as Record<string, string>;
  return descriptor;
}

function blobUnknown(digest: string): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is unknown to the repository`, { detail: { digest } });
}

function manifestUnknown(reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is unknown to the repository`, {
    detail: { reference },
  });
}
