import type { StandingIdentity, StandingLookup } from '../../auth/identities/standing-identities.ts';
import type { IdentitySource, Principal } from '../../auth/principal.ts';
import type { SessionClaim, SessionCookies } from './session-cookie.ts';

/**
 * How long one instance trusts a lookup: a page that fires many API calls costs one, and a
 * removed, disabled or demoted account loses its sessions within this window everywhere.
 */
export const sessionLookupTtlMs = 3_000;

/** Enough for every account signed in at once; beyond it, expired answers are dropped first. */
const maximumEntries = 10_000;

type Standing = StandingIdentity | undefined | 'unverifiable';

/**
 * Turns a session cookie into the principal it stands for now: the account is looked up in its
 * source (through a short cache), and the session ends when the account is gone, disabled,
 * expired, or its password changed since the sign-in.
 */
export class SessionPrincipals {
  private readonly cache = new Map<string, { until: number; standing: Promise<Standing> }>();

  constructor(
    private readonly cookies: SessionCookies,
    private readonly lookup: StandingLookup,
    private readonly ttlMs = sessionLookupTtlMs,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cookie value for a principal who just signed in; undefined when its source no longer knows it. */
  async issue(principal: Principal): Promise<string | undefined> {
    const { name, source } = principal;
    this.forget(name);
    const standing = await this.standing(source, name);
    if (standing === undefined) return undefined;
    if (standing === 'unverifiable') {
      return this.cookies.sign({ name, source, snapshot: { groups: principal.groups, admin: principal.admin } });
    }
    return this.cookies.sign({ name, source, credential: standing.credential });
  }

  /** The principal behind a verified claim, or undefined when the session no longer holds. */
  async resolve(claim: SessionClaim): Promise<Principal | undefined> {
    const standing = await this.standing(claim.source, claim.name);
    if (standing === undefined) return undefined;
    if (standing === 'unverifiable') {
      if (!claim.snapshot) return undefined;
      return { name: claim.name, source: claim.source, groups: claim.snapshot.groups, admin: claim.snapshot.admin };
    }
    if (claim.credential !== this.cookies.fingerprint(standing.credential)) return undefined;
    return standing.principal;
  }

  /** Drops remembered lookups of this name, after the account changed here. */
  forget(name: string): void {
    for (const key of this.cache.keys()) if (key.endsWith(`\0${name}`)) this.cache.delete(key);
  }

  private standing(source: IdentitySource, name: string): Promise<Standing> {
    const key = `${source}\0${name}`;
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached.standing;
    if (this.cache.size >= maximumEntries) this.prune(now);
    const standing = this.lookup(source, name);
    this.cache.set(key, { until: now + this.ttlMs, standing });
    // A failed lookup (database down) is not remembered: the next request asks again.
    standing.catch(() => {
      if (this.cache.get(key)?.standing === standing) this.cache.delete(key);
    });
    return standing;
  }

  private prune(now: number): void {
    for (const [key, entry] of this.cache) if (entry.until <= now) this.cache.delete(key);
    if (this.cache.size >= maximumEntries) this.cache.clear();
  }
}
