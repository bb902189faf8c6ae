import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Marks the text as a Wharf CLI secret, so secret scanners and people recognise a leaked one. */
const prefix = 'wharf_cli_';

/** A new CLI secret: 256 random bits. */
export function generateCliSecret(): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/**
 * The stored form of a CLI secret. The secret is random and long, so one SHA-256 makes guessing
 * from a stolen hash as hard as guessing the secret; a slow password hash would only slow logins.
 */
export function hashCliSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

export function cliSecretMatches(secret: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, 'utf8');
  const actual = Buffer.from(hashCliSecret(secret), 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
