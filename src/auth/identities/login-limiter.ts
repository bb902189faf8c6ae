import type { LoginLimiter } from '../auth-services.ts';

export interface LockoutSettings {
  /** Failures within `windowMs` that lock an account (`auth.lockout.attempts`). */
  attempts: number;
  windowMs: number;
  /** How long a lock lasts. */
  durationMs: number;
  /**
   * Failures from one address that lock the address. Higher than `attempts` (four times by
   * default): many people share an address behind one NAT, and one person's typos must not lock
   * out the office, while a guesser cycling through accounts is still stopped.
   */
  addressAttempts?: number;
  /** Accounts remembered at most, and as many addresses; the least recently seen are forgotten first. */
  maxEntries?: number;
  now?: () => number;
}

interface Counter {
  /** Failure times within the window, oldest first, at most the limit. */
  failures: number[];
  lockedUntil: number;
  touched: number;
}

/**
 * Failed-login lockout kept in this process's memory, counted separately per account and per
 * address: either one reaching its limit within the window locks it for the duration. A success
 * clears the account's count, not the address's, so a guesser who owns one valid account cannot
 * reset the address between guesses at others. With several instances each counts its own
 * failures; an implementation of the same interface over Redis would share them.
 */
export class MemoryLoginLimiter implements LoginLimiter {
  private readonly accounts = new Map<string, Counter>();
  private readonly addresses = new Map<string, Counter>();
  private readonly addressAttempts: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly settings: LockoutSettings) {
    this.addressAttempts = settings.addressAttempts ?? settings.attempts * 4;
    this.maxEntries = settings.maxEntries ?? 100_000;
    this.now = settings.now ?? Date.now;
  }

  async retryAfter(account: string, address: string): Promise<number> {
    const now = this.now();
    const until = Math.max(lockedUntil(this.accounts.get(account), now), lockedUntil(this.addresses.get(address), now));
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  async recordFailure(account: string, address: string): Promise<void> {
    const now = this.now();
    this.count(this.accounts, account, this.settings.attempts, now);
    this.count(this.addresses, address, this.addressAttempts, now);
  }

  async recordSuccess(account: string, _address: string): Promise<void> {
    this.accounts.delete(account);
  }

  /** Accounts and addresses currently remembered, for tests and metrics. */
  get size(): number {
    return this.accounts.size + this.addresses.size;
  }

  private count(counters: Map<string, Counter>, key: string, limit: number, now: number): void {
    const counter = counters.get(key) ?? { failures: [], lockedUntil: 0, touched: now };
    // Re-inserted so the map's order is least recently touched first, which is what eviction reads.
    counters.delete(key);
    counter.touched = now;
    counter.failures = counter.failures.filter((time) => time > now - this.settings.windowMs);
    counter.failures.push(now);
    if (counter.failures.length >= limit) {
      counter.lockedUntil = now + this.settings.durationMs;
      counter.failures = [];
    }
    counters.set(key, counter);
    this.evict(counters, now);
  }

  /** Forgets counters that can no longer matter, and the oldest beyond the size bound. */
  private evict(counters: Map<string, Counter>, now: number): void {
    const horizon = now - Math.max(this.settings.windowMs, this.settings.durationMs);
    for (const [key, counter] of counters) {
      const stale = counter.touched <= horizon && counter.lockedUntil <= now;
      if (!stale && counters.size <= this.maxEntries) break;
      counters.delete(key);
    }
  }
}

function lockedUntil(counter: Counter | undefined, now: number): number {
  return counter !== undefined && counter.lockedUntil > now ? counter.lockedUntil : 0;
}
