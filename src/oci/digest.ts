import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.ts';

/** The algorithms the registry computes and verifies; others are rejected as DIGEST_INVALID. */
const encodedLength = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof encodedLength;

/** A validated digest string, `algorithm:hex`. Only parseDigest makes one, so it is safe in a path. */
export type Digest = string & { readonly __digest: unique symbol };

const grammar = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export function parseDigest(value: string): Digest {
  const match = grammar.exec(value);
  if (!match) throw new RegistryError('DIGEST_INVALID', `invalid digest "${truncate(value)}"`);
  const algorithm = match[1] as string;
  const encoded = match[2] as string;
  if (!isSupportedAlgorithm(algorithm)) {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm "${truncate(algorithm)}"`);
  }
  if (encoded.length !== encodedLength[algorithm] || !/^[a-f0-9]+$/.test(encoded)) {
    throw new RegistryError(
      'DIGEST_INVALID',
      `invalid ${algorithm} digest: expected ${encodedLength[algorithm]} lowercase hex characters`,
    );
  }
  return value as Digest;
}

export function isDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function isSupportedAlgorithm(algorithm: string): algorithm is DigestAlgorithm {
  return Object.hasOwn(encodedLength, algorithm);
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}

export function finishDigest(hash: Hash, algorithm: DigestAlgorithm): Digest {
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}
