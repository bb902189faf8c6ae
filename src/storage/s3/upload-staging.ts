import { Readable } from 'node:stream';
import type { S3Bucket, StoredObject } from './s3-bucket.ts';
import type { S3KeyLayout } from './s3-key-layout.ts';

/**
 * S3 assembles a blob from at most 10,000 parts and the tail needs one of them, so an upload may
 * stage 9,999 full parts.
 */
export const maximumStagedParts = 9_999;

/** An upload as the bucket holds it: everything another instance needs to continue it. */
export interface StagedUpload {
  id: string;
  startedAt: Date;
  /** Part n at index n - 1, each one chunk long. */
  parts: StoredObject[];
  /** The bytes after the last part, when there are any. */
  tail?: StoredObject;
  /**
   * Tails a later part has absorbed: an append writes the part holding the old tail's bytes before
   * it replaces the tail, and a tail named after fewer parts than exist is ignored. Deleted by the
   * next append.
   */
  staleTails: string[];
  size: number;
}

/** Reading and writing the objects of staged uploads under `uploads/<id>/`. */
export class UploadStaging {
  constructor(
    readonly bucket: S3Bucket,
    readonly keys: S3KeyLayout,
  ) {}

  async start(id: string): Promise<void> {
    await this.bucket.put(this.keys.state(id), Buffer.from(`${JSON.stringify({ startedAt: new Date() })}\n`));
  }

  /** The upload's staged objects, or undefined when it was never started or is gone. */
  async inspect(id: string): Promise<StagedUpload | undefined> {
    let startedAt: Date | undefined;
    const parts: StoredObject[] = [];
    const tails: { object: StoredObject; afterParts: number }[] = [];
    for await (const object of this.bucket.list(this.keys.upload(id))) {
      const staged = this.keys.stagedKind(id, object.key);
      if (staged.kind === 'state') startedAt = object.modifiedAt;
      else if (staged.kind === 'part') {
        if (staged.number !== parts.length + 1) {
          throw new Error(`upload ${id} is damaged: part ${parts.length + 1} is missing from the bucket`);
        }
        parts.push(object);
      } else if (staged.kind === 'tail') tails.push({ object, afterParts: staged.afterParts });
    }
    if (startedAt === undefined) return undefined;
    const tail = tails.find((candidate) => candidate.afterParts === parts.length)?.object;
    const staleTails = tails.filter((candidate) => candidate.object !== tail).map((candidate) => candidate.object.key);
    const size = parts.reduce((sum, part) => sum + part.size, 0) + (tail?.size ?? 0);
    return { id, startedAt, parts, tail, staleTails, size };
  }

  async readTail(upload: StagedUpload): Promise<Buffer> {
    if (!upload.tail) return Buffer.alloc(0);
    const bytes = await this.bucket.getBuffer(upload.tail.key);
    if (bytes === undefined) throw new Error(`upload ${upload.id}: its tail vanished while appending`);
    return bytes;
  }

  putPart(id: string, number: number, bytes: Buffer): Promise<void> {
    return this.bucket.put(this.keys.part(id, number), bytes);
  }

  putTail(id: string, afterParts: number, bytes: Buffer): Promise<void> {
    return this.bucket.put(this.keys.tail(id, afterParts), bytes);
  }

  /** The staged bytes in order: every part, then the tail, fetched one object at a time. */
  read(upload: StagedUpload): Readable {
    const objects = [...upload.parts, ...(upload.tail ? [upload.tail] : [])];
    const bucket = this.bucket;
    async function* bytes(): AsyncIterable<Buffer> {
      for (const object of objects) {
        const stream = await bucket.get(object.key);
        if (!stream) throw new Error(`upload ${upload.id}: ${object.key} vanished while reading`);
        for await (const chunk of stream) yield chunk as Buffer;
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  /** Deletes every staged object, the state last, so an interrupted removal is still a listed upload. */
  async remove(id: string): Promise<void> {
    const state = this.keys.state(id);
    const keys: string[] = [];
    for await (const object of this.bucket.list(this.keys.upload(id))) {
      if (object.key !== state) keys.push(object.key);
    }
    await this.bucket.deleteMany(keys);
    await this.bucket.delete(state);
  }

  async *ids(): AsyncIterable<string> {
    for await (const prefix of this.bucket.listPrefixes(this.keys.uploadsPrefix)) {
      const id = this.keys.uploadIdOf(prefix);
      if (id !== undefined) yield id;
    }
  }
}
