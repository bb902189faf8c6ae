import { createHash, type Hash, randomFillSync } from 'node:crypto';

const poolSize = 64 * 1024 * 1024;
const tailSize = 32;
const defaultSliceSize = 1024 * 1024;

let pool: Buffer | undefined;
const prefixHashes = new Map<number, Hash>();
let blobsMade = 0;

/** One random buffer, generated once and reused as the body of every blob. */
function randomPool(): Buffer {
  pool ??= randomFillSync(Buffer.allocUnsafe(poolSize));
  return pool;
}

/**
 * A blob whose bytes are the random pool repeated up to `size - 32`, then a unique 32-byte tail.
 * The tail makes each blob distinct (no server can short-circuit an existing digest), and because it
 * comes last the SHA-256 state of the shared prefix is computed once per size and copied.
 */
export class Blob {
  readonly digest: string;

  private constructor(
    readonly size: number,
    private readonly tail: Buffer,
  ) {
    this.digest = `sha256:${prefixHash(size - tailSize)
      .copy()
      .update(tail)
      .digest('hex')}`;
  }

  static generate(size: number): Blob {
    if (size < tailSize) throw new Error(`blobs must be at least ${tailSize} bytes`);
    const tail = createHash('sha256').update(`wharf-bench ${process.pid} ${Date.now()} ${blobsMade++}`).digest();
    return new Blob(size, tail);
  }

  /** The bytes in [start, end) as buffers of at most `sliceSize`, views into the pool where possible. */
  *slices(start = 0, end = this.size, sliceSize = defaultSliceSize): Generator<Buffer> {
    const prefixEnd = this.size - tailSize;
    let offset = start;
    while (offset < Math.min(end, prefixEnd)) {
      const poolOffset = offset % poolSize;
      const length = Math.min(sliceSize, Math.min(end, prefixEnd) - offset, poolSize - poolOffset);
      yield randomPool().subarray(poolOffset, poolOffset + length);
      offset += length;
    }
    if (offset < end) yield this.tail.subarray(offset - prefixEnd, end - prefixEnd);
  }

  bytes(): Buffer {
    return Buffer.concat([...this.slices()]);
  }
}

/** SHA-256 state after the first `length` bytes of the repeated pool, computed once per length. */
function prefixHash(length: number): Hash {
  let hash = prefixHashes.get(length);
  if (!hash) {
    hash = createHash('sha256');
    const data = randomPool();
    for (let offset = 0; offset < length; offset += poolSize) {
      hash.update(data.subarray(0, Math.min(poolSize, length - offset)));
    }
    prefixHashes.set(length, hash);
  }
  return hash;
}

/** SHA-256 digest of a small in-memory document (manifests, configs). */
export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
