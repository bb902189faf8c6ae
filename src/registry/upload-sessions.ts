import type { Hash } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { createDigester, type Digest, type DigestAlgorithm, digestAlgorithm, finishDigest } from '../oci/digest.ts';
import { RegistryError } from '../oci/errors.ts';
import { isUploadId, type StorageDriver, StorageNotFoundError } from '../storage/driver.ts';
import { UploadOffsetError } from '../storage/upload-offset-error.ts';
import { DigestingStream } from './digesting-stream.ts';

/** The running digest of an upload whose every byte passed through this process. */
interface RunningDigest {
  algorithm: DigestAlgorithm;
  hash: Hash;
  size: number;
}

export interface ChunkRange {
  start: number;
  end: number;
}

export interface AppendOptions {
  range?: ChunkRange;
  contentLength?: number;
}

/**
 * Upload sessions: bytes are staged by the storage driver, the session row lives in the metadata
 * store, and the digest is computed while bytes stream through. A process that did not see every
 * byte (a restart, another instance) re-reads the staged bytes once at commit.
 */
export class UploadSessions {
  private readonly running = new Map<string, RunningDigest>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly storage: StorageDriver,
    private readonly metadata: MetadataStore,
  ) {}

  async start(repository: string): Promise<string> {
    const id = randomUUID();
    await this.storage.startUpload(id);
    await this.metadata.createUpload(id, repository);
    this.running.set(id, { algorithm: 'sha256', hash: createDigester('sha256'), size: 0 });
    return id;
  }

  /** The number of durable bytes; BLOB_UPLOAD_UNKNOWN when the session is not this repository's. */
  async size(repository: string, id: string): Promise<number> {
    await this.assertSession(repository, id);
    const stat = await this.storage.statUpload(id);
    if (!stat) throw unknownUpload(id);
    return stat.size;
  }

  async append(repository: string, id: string, source: Readable, options: AppendOptions = {}): Promise<number> {
    await this.assertSession(repository, id);
    return this.exclusive(id, () => this.appendLocked(id, source, options));
  }

  /** Verifies the digest and makes the blob visible; returns its size. */
  async commit(
    repository: string,
    id: string,
    digest: Digest,
    lastChunk?: Readable,
    contentLength?: number,
  ): Promise<number> {
    await this.assertSession(repository, id);
    return this.exclusive(id, async () => {
      if (lastChunk) await this.appendLocked(id, lastChunk, { contentLength });
      const stat = await this.storage.statUpload(id);
      if (!stat) throw unknownUpload(id);
      const actual = await this.computeDigest(id, digestAlgorithm(digest), stat.size);
      if (actual !== digest) {
        await this.discard(id);
        throw new RegistryError('DIGEST_INVALID', `upload digest ${actual} does not match ${digest}`, {
          detail: { expected: digest, actual },
        });
      }
      // Bytes first, then metadata: a crash in between leaves an unreferenced file, never a
      // blob row without bytes.
      await this.storage.commitUpload(id, digest);
      await this.metadata.commitBlob(repository, digest, stat.size);
      await this.metadata.deleteUpload(id);
      this.running.delete(id);
      return stat.size;
    });
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.assertSession(repository, id);
    await this.exclusive(id, () => this.discard(id));
  }

  private async appendLocked(id: string, source: Readable, options: AppendOptions): Promise<number> {
    const stat = await this.storage.statUpload(id);
    if (!stat) throw unknownUpload(id);
    const { range, contentLength } = options;
    if (range) {
      if (range.start !== stat.size) throw rangeError(stat.size, `chunk starts at ${range.start}`);
      if (contentLength !== undefined && contentLength !== range.end - range.start + 1) {
        throw new RegistryError('SIZE_INVALID', 'Content-Length does not match Content-Range');
      }
    }
    const running = this.running.get(id);
    const hashing = running !== undefined && running.size === stat.size;
    if (!hashing) this.running.delete(id);
    const tap = new DigestingStream(hashing ? running.hash : undefined);
    const tapped = pipeline(source, tap, () => {});
    let size: number;
    try {
      size = await this.storage.appendUpload(id, stat.size, tapped);
    } catch (error) {
      this.running.delete(id);
      if (error instanceof UploadOffsetError) throw rangeError(error.currentSize, 'upload moved on');
      if (error instanceof StorageNotFoundError) throw unknownUpload(id);
      throw error;
    }
    if (hashing && running) running.size = size;
    const expected = range ? range.end - range.start + 1 : contentLength;
    if (expected !== undefined && tap.bytes !== expected) {
      throw new RegistryError('SIZE_INVALID', `received ${tap.bytes} bytes, expected ${expected}`, {
        headers: { Range: rangeHeader(size) },
      });
    }
    return size;
  }

  private async computeDigest(id: string, algorithm: DigestAlgorithm, size: number): Promise<Digest> {
    const running = this.running.get(id);
    if (running && running.algorithm === algorithm && running.size === size) {
      return finishDigest(running.hash, algorithm);
    }
    const hash = createDigester(algorithm);
    for await (const chunk of await this.storage.readUpload(id)) hash.update(chunk as Buffer);
    return finishDigest(hash, algorithm);
  }

  private async discard(id: string): Promise<void> {
    this.running.delete(id);
    await this.storage.cancelUpload(id);
    await this.metadata.deleteUpload(id);
  }

  private async assertSession(repository: string, id: string): Promise<void> {
    if (!isUploadId(id)) throw unknownUpload(id);
    const session = await this.metadata.findUpload(id);
    if (!session || session.repository !== repository) throw unknownUpload(id);
  }

  /** One operation at a time per upload in this process; the offset check catches the rest. */
  private async exclusive<T>(id: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const current = previous.catch(() => {}).then(operation);
    this.locks.set(id, current);
    try {
      return await current;
    } finally {
      if (this.locks.get(id) === current) this.locks.delete(id);
    }
  }
}

export function rangeHeader(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

function rangeError(size: number, message: string): RegistryError {
  return new RegistryError('RANGE_INVALID', `${message}; the upload has ${size} bytes`, {
    headers: { Range: rangeHeader(size) },
  });
}

function unknownUpload(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} is unknown`);
}
