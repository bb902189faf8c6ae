import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../oci/digest.ts';

/** A committed blob as the storage holds it. */
export interface BlobStat {
  size: number;
  modifiedAt: Date;
}

/** A staged upload as the storage holds it. */
export interface UploadStat {
  size: number;
  startedAt: Date;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

/**
 * Bytes addressed by digest, and upload staging. A driver knows nothing of repositories, manifests
 * or tags; every registry concept is built above it. Digests and upload ids reaching a driver are
 * already validated (parseDigest, isUploadId), so they are safe in a path or an object key.
 */
export interface StorageDriver {
  readonly name: string;

  statBlob(digest: Digest): Promise<BlobStat | undefined>;
  /** Throws StorageNotFoundError when the blob is absent. */
  readBlob(digest: Digest, range?: ByteRange): Promise<Readable>;
  /**
   * Optional fast path for downloads: writes the blob (or range) into `destination` through a few
   * reused buffers, each refilled only after the destination has taken its bytes, so a large
   * download allocates nothing per chunk. Resolves once every byte was handed over; does not end
   * `destination`. Throws StorageNotFoundError before writing anything when the blob is absent.
   */
  sendBlob?(digest: Digest, range: ByteRange | undefined, destination: Writable): Promise<void>;
  /** Returns false when there was nothing to delete. */
  deleteBlob(digest: Digest): Promise<boolean>;
  listBlobs(): AsyncIterable<Digest>;
  /** A URL the client may fetch the blob from directly, or undefined to stream it through. */
  blobRedirectURL(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined>;

  startUpload(id: string): Promise<void>;
  /**
   * Appends the stream to the upload at `offset` (which must equal the current size) and makes the
   * bytes durable before resolving with the new size. Backpressure flows from the driver to source.
   */
  appendUpload(id: string, offset: number, source: Readable): Promise<number>;
  statUpload(id: string): Promise<UploadStat | undefined>;
  /** The staged bytes, for re-hashing an upload whose digest state was not kept in memory. */
  readUpload(id: string): Promise<Readable>;
  /** Moves a complete, verified upload to its content address. Idempotent if the blob exists. */
  commitUpload(id: string, digest: Digest): Promise<void>;
  cancelUpload(id: string): Promise<void>;
  listUploads(): AsyncIterable<string>;
  /**
   * Optional: removes what an interrupted write left in the backend outside of uploads and blobs
   * (S3's unfinished multipart uploads), when it was started before `startedBefore`; with `dryRun`
   * only counts it. Returns how many there were.
   */
  purgeAbandonedWrites?(startedBefore: Date, dryRun: boolean): Promise<number>;

  /** Cheap reachability check for readiness probes. */
  ping(): Promise<void>;
}

export class StorageNotFoundError extends Error {
  constructor(what: string) {
    super(`${what} not found in storage`);
    this.name = 'StorageNotFoundError';
  }
}

/** Upload ids are UUIDs the registry generates; anything else never reaches a path. */
const uploadIdGrammar = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUploadId(value: string): boolean {
  return uploadIdGrammar.test(value);
}
