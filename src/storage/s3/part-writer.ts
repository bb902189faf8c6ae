import { RegistryError } from '../../oci/errors.ts';
import { maximumStagedParts, type StagedUpload, type UploadStaging } from './upload-staging.ts';

/**
 * Appends to a staged upload: bytes gather in memory until they make a whole part (one chunk),
 * which is written as the next part object; what is left when the source ends becomes the new tail.
 * The old tail's bytes are read first and go into the next part or tail, so every part but the last
 * meets S3's 5 MiB minimum however small the client's chunks are. At most one part is held in
 * memory, and the source is not read while a part is being written (backpressure).
 *
 * Order of writes, so a crash at any point leaves a consistent upload: the part holding the old
 * tail's bytes, then the new tail (named after the new part count), then deleting the old tail.
 * Until the new tail exists, the old one is named after too few parts and is ignored.
 */
export class PartWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private partCount: number;
  private partBytes: number;
  private tailLoaded = false;
  private received = 0;

  constructor(
    private readonly staging: UploadStaging,
    private readonly upload: StagedUpload,
    private readonly partSize: number,
  ) {
    this.partCount = upload.parts.length;
    this.partBytes = upload.parts.reduce((sum, part) => sum + part.size, 0);
  }

  /** Bytes staged so far, durable or not. */
  get size(): number {
    return this.partBytes + this.pendingBytes;
  }

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    if (!this.tailLoaded) {
      const tail = await this.staging.readTail(this.upload);
      this.tailLoaded = true;
      if (tail.length > 0) this.hold(tail);
    }
    this.received += chunk.length;
    this.hold(chunk);
    while (this.pendingBytes >= this.partSize) await this.writePart();
  }

  /**
   * Makes what is held durable as the tail and drops superseded tails; returns the upload's size.
   * Called after a failed source too, so the bytes that arrived are kept.
   */
  async finish(): Promise<number> {
    if (this.received === 0) return this.size;
    const held = Buffer.concat(this.pending, this.pendingBytes);
    if (held.length > 0) await this.staging.putTail(this.upload.id, this.partCount, held);
    const newTail = held.length > 0 ? this.staging.keys.tail(this.upload.id, this.partCount) : undefined;
    const superseded = [...this.upload.staleTails, ...(this.upload.tail ? [this.upload.tail.key] : [])].filter(
      (key) => key !== newTail,
    );
    await this.staging.bucket.deleteMany(superseded);
    return this.size;
  }

  private hold(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  private async writePart(): Promise<void> {
    const number = this.partCount + 1;
    if (number > maximumStagedParts) {
      throw new RegistryError(
        'SIZE_INVALID',
        `the blob is larger than this storage accepts (${maximumStagedParts} parts of storage.s3.chunksize)`,
        { status: 413 },
      );
    }
    const held = Buffer.concat(this.pending, this.pendingBytes);
    const part = held.subarray(0, this.partSize);
    await this.staging.putPart(this.upload.id, number, part);
    this.partCount = number;
    this.partBytes += part.length;
    const rest = held.subarray(this.partSize);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
  }
}
