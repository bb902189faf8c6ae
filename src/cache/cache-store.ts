/**
 * Where a cached value lives: a key of its own, or a field of a group key. A group is invalidated
 * as a whole (all the tags of one repository), and its fields expire together, `ttlMs` after the
 * group was created.
 */
export interface CacheSlot {
  key: string;
  field?: string;
}

/**
 * A lookup's answer. On a miss, `lease` is set when this reader may fill the slot: the lease is
 * taken before the reader asks the database, and any invalidation in between revokes it, so a value
 * read before a concurrent write can never be stored after that write's invalidation.
 */
export type CacheLookup = { hit: true; value: Buffer } | { hit: false; lease: string | undefined };

/**
 * A cache of metadata in front of the database, by lease (read-through with revocable fill rights)
 * and explicit invalidation. Implementations never throw: when their backend fails they answer
 * misses without leases and keep invalidations to retry, so callers fall through to the database.
 */
export interface CacheStore {
  lookup(slot: CacheSlot, ttlMs: number): Promise<CacheLookup>;
  /** Stores `value` if the lease still holds; expires `ttlMs` later (a field: with its group). */
  fill(slot: CacheSlot, lease: string, value: Buffer, ttlMs: number): Promise<void>;
  /** Removes keys (a group key with all its fields) and the leases on them. */
  invalidate(keys: readonly string[]): Promise<void>;
}

/** How long a reader may take between its lookup and its fill; a slower fill is dropped. */
export const leaseTtlMs = 10_000;
