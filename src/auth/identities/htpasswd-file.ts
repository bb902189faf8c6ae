import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import bcrypt from 'bcryptjs';
import { normaliseBcrypt, randomSecret } from './passwords.ts';
import { printable } from './usernames.ts';

/** A user's bcrypt hash (`$2y$` already rewritten as `$2b$`) and its cost. */
export interface HtpasswdEntry {
  hash: string;
  cost: number;
}

export class HtpasswdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HtpasswdError';
  }
}

const bcryptPattern = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/**
 * Parses an htpasswd file as Distribution does — one `user:hash` per line, blank lines and lines
 * starting with `#` ignored, a later line for the same user wins — but refuses every entry that is
 * not bcrypt when the file is loaded, naming the file and line, instead of failing each login of
 * that user later.
 */
export function parseHtpasswd(text: string, path: string): Map<string, HtpasswdEntry> {
  const entries = new Map<string, HtpasswdEntry>();
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${path}:${index + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HtpasswdError(`${where}: invalid entry: expected "user:bcrypt-hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    const match = bcryptPattern.exec(hash);
    if (!match) {
      throw new HtpasswdError(
        `${where}: user "${printable(user)}": ${describeHash(hash)} is not supported; only bcrypt entries are (create them with "htpasswd -B")`,
      );
    }
    const cost = Number(match[1]);
    if (cost < 4 || cost > 31)
      throw new HtpasswdError(`${where}: user "${printable(user)}": invalid bcrypt cost ${cost}`);
    entries.set(user, { hash: normaliseBcrypt(hash), cost });
  }
  return entries;
}

/** Names the hash scheme of a rejected entry, never the hash itself. */
function describeHash(hash: string): string {
  if (hash === '') return 'an empty password';
  if (hash.startsWith('{SHA}')) return 'a SHA-1 hash ({SHA})';
  if (hash.startsWith('{SSHA}')) return 'a salted SHA-1 hash ({SSHA})';
  if (hash.startsWith('$apr1$')) return 'an Apache MD5 hash ($apr1$)';
  if (hash.startsWith('$1$')) return 'an MD5-crypt hash ($1$)';
  if (hash.startsWith('$5$')) return 'a SHA-256-crypt hash ($5$)';
  if (hash.startsWith('$6$')) return 'a SHA-512-crypt hash ($6$)';
  if (hash.startsWith('$argon2')) return 'an argon2 hash';
  if (/^\$2[aby]\$/.test(hash)) return 'a malformed bcrypt hash';
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return 'a crypt(3) DES hash';
  return 'a plain-text password or unknown hash';
}

/** The account Distribution provisions into a missing htpasswd file. */
export const provisionedUser = 'docker';

/**
 * Creates a missing htpasswd file the way Distribution does: one user, `docker`, with a random
 * password (32 random bytes, URL-safe base64) hashed with bcrypt at cost 10, the file readable by
 * its owner only. Returns the password, which exists nowhere else; undefined when the file exists.
 */
export async function provisionHtpasswdFile(path: string): Promise<{ username: string; password: string } | undefined> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const password = randomSecret(43);
  const hash = await bcrypt.hash(password, 10);
  try {
    // `wx`: never overwrite a file that appeared meanwhile (another instance provisioning it).
    await writeFile(path, `${provisionedUser}:${hash}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
  return { username: provisionedUser, password };
}
