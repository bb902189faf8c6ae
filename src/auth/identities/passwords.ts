import { randomBytes } from 'node:crypto';
import * as argon2 from 'argon2';
import bcrypt from 'bcryptjs';

/**
 * OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): about 100 ms per check here, and a burst of
 * logins cannot take gigabytes of memory the way argon2's 64 MiB × 4 lanes default could.
 */
const argon2Options = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** What a stored password hash is, by its prefix. */
export type HashKind = 'argon2' | 'bcrypt' | 'unsupported';

export function hashKind(hash: string): HashKind {
  if (hash.startsWith('$argon2')) return 'argon2';
  if (/^\$2[aby]\$\d\d\$/.test(hash)) return 'bcrypt';
  return 'unsupported';
}

export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, argon2Options);
}

/**
 * Checks a password against an argon2 or bcrypt hash; false for anything else. Both compare in
 * constant time for a given hash. Apache's `$2y$` is bcrypt under another name.
 */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  switch (hashKind(hash)) {
    case 'argon2':
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false;
      }
    case 'bcrypt':
      return bcrypt.compare(password, normaliseBcrypt(hash));
    default:
      return false;
  }
}

/** Whether a hash that just verified should be replaced by one with today's algorithm and cost. */
export function needsRehash(hash: string): boolean {
  if (hashKind(hash) !== 'argon2') return true;
  try {
    return argon2.needsRehash(hash, argon2Options);
  } catch {
    return true;
  }
}

export function normaliseBcrypt(hash: string): string {
  return hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash;
}

let dummyArgon2: Promise<string> | undefined;
const dummyBcrypt = new Map<number, Promise<string>>();

/**
 * Spends the time a real check would, for a name that has no hash: a login for an account that
 * does not exist must not answer faster than one with a wrong password.
 */
export async function spendVerificationTime(password: string, like: 'argon2' | { bcryptCost: number }): Promise<void> {
  if (like === 'argon2') {
    dummyArgon2 ??= hashPassword(randomSecret(24));
    await verifyPassword(await dummyArgon2, password);
    return;
  }
  let hash = dummyBcrypt.get(like.bcryptCost);
  if (!hash) {
    hash = bcrypt.hash(randomSecret(24), like.bcryptCost);
    dummyBcrypt.set(like.bcryptCost, hash);
  }
  await bcrypt.compare(password, await hash);
}

/** A random secret of `length` characters from the URL-safe base64 alphabet (6 bits each). */
export function randomSecret(length: number): string {
  return randomBytes(Math.ceil((length * 3) / 4))
    .toString('base64url')
    .slice(0, length);
}
