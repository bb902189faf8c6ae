import { type CacheLookup, type CacheSlot, type CacheStore, leaseTtlMs } from './cache-store.ts';

type Stored = { lease: string } | { value: Buffer };

interface Entry {
  expiresAt: number;
  /** A plain key's content; undefined for a group. */
  stored?: Stored;
  /** A group's fields. */
  fields?: Map<string, Stored>;
}

const miss: CacheLookup = { hit: false, lease: undefined };

/**
 * The metadata cache in this process's memory (`storage.cache.blobdescriptor: inmemory`), least
 * recently used first out beyond `maxEntries` values (0: no bound). Other instances cannot see its
 * invalidations, so it is for a single instance only.
 */
export class MemoryCacheStore implements CacheStore {
  // A Map iterates in insertion order; entries are re-inserted when used, so the first is the coldest.
  private readonly entries = new Map<string, Entry>();
  private count = 0;
  private leaseCount = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Values (plain keys and group fields) held, leases included. */
  get size(): number {
    return this.count;
  }

  async lookup(slot: CacheSlot, ttlMs: number): Promise<CacheLookup> {
    const now = this.now();
    let entry = this.touch(slot.key, now);
    const lease = `${++this.leaseCount}`;
    if (slot.field === undefined) {
      if (entry?.stored) return 'value' in entry.stored ? { hit: true, value: entry.stored.value } : miss;
      this.set(slot.key, { expiresAt: now + leaseTtlMs, stored: { lease } });
      return { hit: false, lease };
    }
    if (!entry?.fields) {
      if (entry) this.remove(slot.key);
      entry = { expiresAt: now + ttlMs, fields: new Map() };
      this.set(slot.key, entry);
    }
    const fields = entry.fields ?? new Map<string, Stored>();
    const stored = fields.get(slot.field);
    if (stored) return 'value' in stored ? { hit: true, value: stored.value } : miss;
    fields.set(slot.field, { lease });
    this.count++;
    this.evict();
    return { hit: false, lease };
  }

  async fill(slot: CacheSlot, lease: string, value: Buffer, ttlMs: number): Promise<void> {
    const now = this.now();
    const entry = this.touch(slot.key, now);
    if (!entry) return;
    if (slot.field === undefined) {
      if (entry.stored && 'lease' in entry.stored && entry.stored.lease === lease) {
        entry.stored = { value };
        entry.expiresAt = now + ttlMs;
      }
      return;
    }
    const stored = entry.fields?.get(slot.field);
    if (stored && 'lease' in stored && stored.lease === lease) entry.fields?.set(slot.field, { value });
  }

  async invalidate(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.remove(key);
  }

  /** The live entry at `key`, marked as the most recently used. */
  private touch(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= now) {
      this.count -= sizeOf(entry);
      return undefined;
    }
    this.entries.set(key, entry);
    return entry;
  }

  private set(key: string, entry: Entry): void {
    this.remove(key);
    this.entries.set(key, entry);
    this.count += sizeOf(entry);
    this.evict();
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.count -= sizeOf(entry);
  }

  private evict(): void {
    if (this.maxEntries === 0) return;
    for (const key of this.entries.keys()) {
      if (this.count <= this.maxEntries) return;
      this.remove(key);
    }
  }
}

function sizeOf(entry: Entry): number {
  return entry.fields ? entry.fields.size : 1;
}
