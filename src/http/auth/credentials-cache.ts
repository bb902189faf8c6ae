import { createHash } from 'node:crypto';
import type { Principal } from '../../auth/principal.ts';

/**
 * Remembers recent successful Basic logins for a short time. Clients that send Basic credentials
 * send them on every request, and a bcrypt or argon2 check costs tens of milliseconds of CPU; a
 * changed or revoked password stops working at the latest after `ttlMs`.
 */
export class CredentialsCache {
  private readonly entries = new Map<string, { principal: Principal; expires: number }>();

  constructor(
    private readonly ttlMs = 30_000,
    private readonly maxEntries = 1000,
  ) {}

  get(username: string, password: string): Principal | undefined {
    const key = cacheKey(username, password);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires < Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.principal;
  }

  /** Drops every remembered login of this name (its password, secret or rights changed). */
  forget(username: string): void {
    for (const [key, entry] of this.entries) {
      if (entry.principal.name === username) this.entries.delete(key);
    }
  }

  set(username: string, password: string, principal: Principal): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(cacheKey(username, password), { principal, expires: Date.now() + this.ttlMs });
  }
}

/** A hash, so the cache never holds a password in clear. */
function cacheKey(username: string, password: string): string {
  return createHash('sha256').update(username).update('\u0000').update(password).digest('hex');
}
