import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';

const base32Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The key ID libtrust gives a public key, which Distribution 2.x, Harbor and docker_auth put in a
 * token's `kid`: SHA-256 of the DER SubjectPublicKeyInfo, cut to 240 bits, base32 without padding,
 * in twelve groups of four joined by colons (`ABCD:EFGH:…:MNOP`).
 */
export function libtrustKeyId(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(der).digest().subarray(0, 30);
  const encoded = base32(digest);
  const groups: string[] = [];
  for (let index = 0; index < encoded.length; index += 4) groups.push(encoded.slice(index, index + 4));
  return groups.join(':');
}

/** The RFC 7638 JWK thumbprint (SHA-256, base64url): the `kid` Distribution 3 expects for a root certificate's key. */
export async function jwkThumbprint(publicKey: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(publicKey), 'sha256');
}

/** Every name a trusting party may know this key by. */
export async function keyIdsOf(publicKey: KeyObject): Promise<string[]> {
  return [libtrustKeyId(publicKey), await jwkThumbprint(publicKey)];
}

/** RFC 4648 base32 without padding (a 30-byte input is exactly 48 characters). */
function base32(bytes: Uint8Array): string {
  let output = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      output += base32Alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) output += base32Alphabet[(buffer << (5 - bits)) & 31];
  return output;
}
