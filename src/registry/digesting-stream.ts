import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Counts and (optionally) hashes bytes as they pass, so a blob is never read twice to digest it. */
export class DigestingStream extends Transform {
  bytes = 0;

  constructor(private readonly hash: Hash | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    callback(null, chunk);
  }
}
