import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type BucketLocationConstraint,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  type ServerSideEncryption,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ByteRange } from '../driver.ts';
import { describeFailure, isMissing } from './s3-errors.ts';

export interface StoredObject {
  key: string;
  size: number;
  modifiedAt: Date;
}

/** Settings applied to every object Wharf creates. */
export interface ObjectSettings {
  /** Undefined sends no storage class header. */
  storageClass?: StorageClass;
  /** SSE-S3 (AES256) or, with a key id, SSE-KMS. */
  encryption?: { keyId?: string };
}

/** DeleteObjects takes at most this many keys, ListObjectsV2 returns at most this many. */
const batchSize = 1000;

/** The object operations the driver is built from, on one bucket. Missing objects are undefined, not errors. */
export class S3Bucket {
  constructor(
    readonly client: S3Client,
    readonly name: string,
    private readonly settings: ObjectSettings,
  ) {}

  /** Creates the bucket when it does not exist; true when it did not. */
  async ensureExists(region: string): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.name }));
      return false;
    } catch (error) {
      if (!isMissing(error)) throw new Error(`S3 bucket ${this.name}: ${describeFailure(error)}`, { cause: error });
    }
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: this.name,
          // us-east-1 is the default location and AWS refuses it spelled out.
          CreateBucketConfiguration:
            region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint },
        }),
      );
    } catch (error) {
      throw new Error(`S3 bucket ${this.name} does not exist and cannot be created: ${describeFailure(error)}`, {
        cause: error,
      });
    }
    return true;
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.name }));
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
      return { key, size: response.ContentLength ?? 0, modifiedAt: response.LastModified ?? new Date(0) };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** The object's bytes as a stream, or undefined when it does not exist. */
  async get(key: string, range?: ByteRange): Promise<Readable | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.name,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      if (!(response.Body instanceof Readable)) throw new Error(`S3 returned no body stream for ${key}`);
      return response.Body;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** The whole object in memory; only for objects known to be small (an upload's tail). */
  async getBuffer(key: string): Promise<Buffer | undefined> {
    const stream = await this.get(key);
    if (!stream) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Content-MD5 lets the store refuse bytes damaged on the way. */
  async put(key: string, body: Buffer): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.name,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentMD5: createHash('md5').update(body).digest('base64'),
        ...this.creationParameters(),
      }),
    );
  }

  async copy(sourceKey: string, targetKey: string): Promise<void> {
    await this.client.send(
      new CopyObjectCommand({
        Bucket: this.name,
        Key: targetKey,
        CopySource: this.copySource(sourceKey),
        ...this.creationParameters(),
      }),
    );
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }));
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += batchSize) {
      const batch = keys.slice(start, start + batchSize);
      const response = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.name,
          Delete: { Objects: batch.map((key) => ({ Key: key })), Quiet: true },
        }),
      );
      const failed = (response.Errors ?? []).filter((error) => error.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const [first] = failed;
        throw new Error(
          `S3 could not delete ${failed.length} objects, ${first?.Key}: ${first?.Code} ${first?.Message}`,
        );
      }
    }
  }

  /** Every object whose key starts with `prefix`, in key order, a page at a time. */
  async *list(prefix: string): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token, MaxKeys: batchSize }),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined) continue;
        yield { key: item.Key, size: item.Size ?? 0, modifiedAt: item.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** The "directories" directly below `prefix` (keys up to the next `/`). */
  async *listPrefixes(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.name,
          Prefix: prefix,
          Delimiter: '/',
          ContinuationToken: token,
          MaxKeys: batchSize,
        }),
      );
      for (const item of page.CommonPrefixes ?? []) {
        if (item.Prefix !== undefined) yield item.Prefix;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Multipart uploads under `prefix` that were neither completed nor aborted. */
  async *listMultipartUploads(prefix: string): AsyncIterable<{ key: string; uploadId: string; initiated: Date }> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.name,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
          MaxUploads: batchSize,
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        yield { key: upload.Key, uploadId: upload.UploadId, initiated: upload.Initiated ?? new Date(0) };
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId: uploadId }));
  }

  /** A URL that fetches the object without credentials until it expires. */
  presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.name, Key: key }), {
      expiresIn: expiresInSeconds,
    });
  }

  /** The x-amz-copy-source value: bucket and key, each path segment URL-encoded. */
  copySource(key: string): string {
    return `${this.name}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** Storage class and encryption, for every request that creates an object. */
  creationParameters(): {
    StorageClass?: StorageClass;
    ServerSideEncryption?: ServerSideEncryption;
    SSEKMSKeyId?: string;
  } {
    const { storageClass, encryption } = this.settings;
    const keyId = encryption?.keyId;
    return {
      StorageClass: storageClass,
      ...(encryption === undefined
        ? {}
        : keyId === undefined
          ? { ServerSideEncryption: 'AES256' }
          : { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }),
    };
  }
}
