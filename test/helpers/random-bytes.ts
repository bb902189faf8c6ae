import { createCipheriv, createHash } from 'node:crypto';

/**
 * Incompressible bytes that are the same for the same seed: AES-256-CTR over
 * zeros, keyed by the seed's hash. Layers built from them keep their digests
 * between runs yet gzip cannot shrink them, so sizes on the wire are real.
 */
export function seededRandomBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const iv = Buffer.alloc(16);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}
