import { Transform, type TransformCallback } from 'node:stream';
import { createDigester, type Digest, digestAlgorithm, finishDigest } from '../oci/digest.ts';
import { DigestMismatchError } from './client/index.ts';

/**
 * Passes bytes through while hashing and counting them; fails instead of ending when they are not
 * `size` bytes with digest `digest`, so a consumer never commits wrong content.
 */
export function verifyingStream(descriptor: { digest: Digest; size: number }, what = 'blob'): Transform {
  const algorithm = digestAlgorithm(descriptor.digest);
  const hash = createDigester(algorithm);
  let length = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      length += chunk.length;
      if (length > descriptor.size) {
        done(new DigestMismatchError(`${what} ${descriptor.digest} length`, `${descriptor.size} bytes`, 'more'));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      if (length !== descriptor.size) {
        done(
          new DigestMismatchError(`${what} ${descriptor.digest} length`, `${descriptor.size} bytes`, `${length} bytes`),
        );
        return;
      }
      const actual = finishDigest(hash, algorithm);
      done(actual === descriptor.digest ? null : new DigestMismatchError(what, descriptor.digest, actual));
    },
  });
}
