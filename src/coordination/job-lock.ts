export interface JobLockOptions {
  /**
   * Release the lock when the job ends (the default). False keeps it until it expires: the job
   * then claims its time slot, and no instance runs it again before `ttlMs` has passed.
   */
  release?: boolean;
}

export type JobLockOutcome<T> = { ran: true; value: T } | { ran: false };

/**
 * Mutual exclusion for background jobs across every instance of the registry. A lock expires
 * `ttlMs` after it was taken unless its holder is alive to renew it; the job's signal aborts if the
 * holder loses it all the same (Redis restarted empty, a pause longer than the TTL).
 */
export interface JobLocks {
  /** Runs `job` only if the lock `name` could be taken now; `ran: false` when another holds it. */
  withJobLock<T>(
    name: string,
    ttlMs: number,
    job: (signal: AbortSignal) => Promise<T>,
    options?: JobLockOptions,
  ): Promise<JobLockOutcome<T>>;
}

/**
 * Locks within this process only: what a single instance needs (no Redis), so the same job does
 * not overlap itself when a run outlasts its interval.
 */
export class LocalJobLocks implements JobLocks {
  private readonly held = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async withJobLock<T>(
    name: string,
    ttlMs: number,
    job: (signal: AbortSignal) => Promise<T>,
    options: JobLockOptions = {},
  ): Promise<JobLockOutcome<T>> {
    const now = this.now();
    for (const [key, expiresAt] of this.held) if (expiresAt <= now) this.held.delete(key);
    if (this.held.has(name)) return { ran: false };
    // Held while the job runs, however long: nothing else in this process can take it from under it.
    this.held.set(name, Number.POSITIVE_INFINITY);
    try {
      return { ran: true, value: await job(new AbortController().signal) };
    } finally {
      if (options.release === false) this.held.set(name, Math.max(this.now(), now + ttlMs));
      else this.held.delete(name);
    }
  }
}
