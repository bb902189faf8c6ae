import type { Readable } from 'node:stream';
import type { S3StorageConfig } from '../../config/config.ts';
import type { Digest } from '../../oci/digest.ts';
import { type BlobStat, type ByteRange, type StorageDriver, StorageNotFoundError, type UploadStat } from '../driver.ts';
import { UploadOffsetError } from '../upload-offset-error.ts';
import { assembleObject, type CopySettings } from './assemble-object.ts';
import { PartWriter } from './part-writer.ts';
import { S3Bucket } from './s3-bucket.ts';
import { createS3Client } from './s3-client.ts';
import { S3KeyLayout } from './s3-key-layout.ts';
import { UploadStaging } from './upload-staging.ts';

/** How long a presigned blob URL stays valid: long enough to start a large download, short enough to not be a share link. */
export const redirectLifetimeSeconds = 20 * 60;

export interface S3DriverOptions {
  /** Answer blob GETs with presigned URLs (false: `storage.redirect.disable`). */
  redirect: boolean;
  /** Bytes per staged part (`chunksize`). */
  chunkSize: number;
  copy: CopySettings;
}

/**
 * Blobs in an S3 bucket. An upload is staged as objects under `uploads/<id>/` (see S3KeyLayout and
 * PartWriter), so its state lives in the bucket and any instance can continue or finish it; the
 * commit assembles the staged parts at the blob's content address with server-side copies.
 */
export class S3Driver implements StorageDriver {
  readonly name = 's3';
  private readonly keys: S3KeyLayout;
  private readonly staging: UploadStaging;

  constructor(
    readonly bucket: S3Bucket,
    rootDirectory: string,
    private readonly options: S3DriverOptions,
  ) {
    this.keys = new S3KeyLayout(rootDirectory);
    this.staging = new UploadStaging(bucket, this.keys);
  }

  static fromConfig(config: S3StorageConfig, redirect: boolean): S3Driver {
    const bucket = new S3Bucket(createS3Client(config), config.bucket, {
      storageClass: config.storageclass === 'NONE' ? undefined : config.storageclass,
      encryption: config.encrypt ? { keyId: config.keyid === '' ? undefined : config.keyid } : undefined,
    });
    return new S3Driver(bucket, config.rootdirectory, {
      redirect,
      chunkSize: config.chunksize,
      copy: {
        concurrency: config.multipartcopymaxconcurrency,
        thresholdSize: config.multipartcopythresholdsize,
        chunkSize: config.multipartcopychunksize,
      },
    });
  }

  /** Creates the bucket if it does not exist yet; true when it was created. */
  init(region: string): Promise<boolean> {
    return this.bucket.ensureExists(region);
  }

  async statBlob(digest: Digest): Promise<BlobStat | undefined> {
    const object = await this.bucket.head(this.keys.blob(digest));
    return object ? { size: object.size, modifiedAt: object.modifiedAt } : undefined;
  }

  async readBlob(digest: Digest, range?: ByteRange): Promise<Readable> {
    const stream = await this.bucket.get(this.keys.blob(digest), range);
    if (!stream) throw new StorageNotFoundError(`blob ${digest}`);
    return stream;
  }

  async deleteBlob(digest: Digest): Promise<boolean> {
    const key = this.keys.blob(digest);
    // S3 deletes answer the same whether or not the object existed.
    if (!(await this.bucket.head(key))) return false;
    await this.bucket.delete(key);
    return true;
  }

  async *listBlobs(): AsyncIterable<Digest> {
    for await (const object of this.bucket.list(this.keys.blobsPrefix)) {
      const digest = this.keys.digestOf(object.key);
      if (digest !== undefined) yield digest;
    }
  }

  /** HEAD is answered by the registry itself: a redirect would cost the client a second round trip for a few headers. */
  async blobRedirectURL(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    if (!this.options.redirect || method !== 'GET') return undefined;
    return this.bucket.presignGet(this.keys.blob(digest), redirectLifetimeSeconds);
  }

  async startUpload(id: string): Promise<void> {
    await this.staging.start(id);
  }

  async appendUpload(id: string, offset: number, source: Readable): Promise<number> {
    const upload = await this.staging.inspect(id);
    if (!upload) throw new StorageNotFoundError(`upload ${id}`);
    if (upload.size !== offset) throw new UploadOffsetError(upload.size);
    const writer = new PartWriter(this.staging, upload, this.options.chunkSize);
    try {
      for await (const chunk of source) await writer.write(chunk as Buffer);
    } catch (error) {
      // Whatever arrived stays staged: the client learns the durable size from the upload's Range.
      await writer.finish().catch(() => {});
      throw error;
    }
    return writer.finish();
  }

  async statUpload(id: string): Promise<UploadStat | undefined> {
    const upload = await this.staging.inspect(id);
    return upload ? { size: upload.size, startedAt: upload.startedAt } : undefined;
  }

  async readUpload(id: string): Promise<Readable> {
    const upload = await this.staging.inspect(id);
    if (!upload) throw new StorageNotFoundError(`upload ${id}`);
    return this.staging.read(upload);
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const target = this.keys.blob(digest);
    if (await this.bucket.head(target)) {
      await this.cancelUpload(id);
      return;
    }
    const upload = await this.staging.inspect(id);
    if (!upload) throw new StorageNotFoundError(`upload ${id}`);
    const sources = [...upload.parts, ...(upload.tail ? [upload.tail] : [])];
    // The store acknowledges the assembled object only once it is durable; then the staging can go.
    await assembleObject(this.bucket, target, sources, this.options.copy);
    await this.staging.remove(id);
  }

  async cancelUpload(id: string): Promise<void> {
    await this.staging.remove(id);
  }

  listUploads(): AsyncIterable<string> {
    return this.staging.ids();
  }

  /**
   * A commit assembles its blob as a multipart upload and aborts it on failure; one that crashed
   * halfway leaves it unfinished, invisible in listings but billed. Those started before
   * `startedBefore` are aborted (counted only, with `dryRun`).
   */
  async purgeAbandonedWrites(startedBefore: Date, dryRun: boolean): Promise<number> {
    let count = 0;
    for await (const upload of this.bucket.listMultipartUploads(this.keys.blobsPrefix)) {
      if (upload.initiated >= startedBefore) continue;
      if (!dryRun) await this.bucket.abortMultipartUpload(upload.key, upload.uploadId);
      count++;
    }
    return count;
  }

  async ping(): Promise<void> {
    await this.bucket.ping();
  }
}
