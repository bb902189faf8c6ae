import { randomBytes } from 'node:crypto';
import { type CacheLookup, type CacheSlot, type CacheStore, leaseTtlMs } from './cache-store.ts';
import { LuaScript } from './lua-script.ts';
import type { RedisConnection } from './redis-connection.ts';

// A stored string is a value ('v' + bytes) or a reader's lease ('l' + token).
const valuePrefix = Buffer.from('v');
const leasePrefix = 'l';

const lookupKey = new LuaScript(`
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`);

const lookupField = new LuaScript(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then return current end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return false`);

const fillKey = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`);

const fillField = new LuaScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`);

/** After a failed command, reads skip Redis this long rather than wait on it for every request. */
const readPauseMs = 1_000;
/** Invalidations kept for retry while Redis is unreachable; beyond, the whole cache is distrusted. */
const maxPendingInvalidations = 100_000;
const invalidationBatch = 500;

const miss: CacheLookup = { hit: false, lease: undefined };

/**
 * The metadata cache in Redis, shared by every instance. Invalidations that cannot reach Redis are
 * kept and sent first when it is back; until they are, this instance reads nothing from the cache,
 * as entries there may be older than its own writes.
 */
export class RedisCacheStore implements CacheStore {
  private readonly pending = new Set<string>();
  /** More invalidations were lost than kept: nothing in Redis is trusted until the longest TTL passed. */
  private overflowed = false;
  private readsPausedUntil = 0;
  private longestTtlMs = leaseTtlMs;
  private flushing: Promise<void> | undefined;
  private readonly leaseOrigin = randomBytes(6).toString('base64url');
  private leaseCount = 0;

  constructor(
    private readonly redis: RedisConnection,
    private readonly onError: () => void = () => {},
  ) {
    redis.onReady(() => {
      void this.flush();
    });
  }

  async lookup(slot: CacheSlot, ttlMs: number): Promise<CacheLookup> {
    this.longestTtlMs = Math.max(this.longestTtlMs, ttlMs);
    if (this.pending.size > 0 && this.redis.ready) void this.flush();
    if (!this.readable()) return miss;
    const lease = `${leasePrefix}${this.leaseOrigin}.${++this.leaseCount}`;
    try {
      const found =
        slot.field === undefined
          ? await this.redis.evaluate(lookupKey, [slot.key], [lease, leaseTtlMs])
          : await this.redis.evaluate(lookupField, [slot.key], [slot.field, lease, ttlMs]);
      if (found === null) return { hit: false, lease };
      if (Buffer.isBuffer(found) && found[0] === valuePrefix[0]) return { hit: true, value: found.subarray(1) };
      // Another reader holds the lease and will fill the slot.
      return miss;
    } catch (error) {
      this.failed('cache read', error);
      return miss;
    }
  }

  async fill(slot: CacheSlot, lease: string, value: Buffer, ttlMs: number): Promise<void> {
    if (!this.redis.ready) return;
    const stored = Buffer.concat([valuePrefix, value]);
    try {
      if (slot.field === undefined) await this.redis.evaluate(fillKey, [slot.key], [lease, stored, ttlMs]);
      else await this.redis.evaluate(fillField, [slot.key], [slot.field, lease, stored]);
    } catch (error) {
      this.failed('cache write', error);
    }
  }

  async invalidate(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (!this.redis.ready) {
      this.remember(keys);
      return;
    }
    try {
      await this.delete(keys);
    } catch (error) {
      this.remember(keys);
      this.failed('cache invalidation', error);
    }
  }

  private readable(): boolean {
    return this.redis.ready && this.pending.size === 0 && !this.overflowed && Date.now() >= this.readsPausedUntil;
  }

  private remember(keys: readonly string[]): void {
    for (const key of keys) {
      if (this.pending.size >= maxPendingInvalidations) {
        this.overflowed = true;
        return;
      }
      this.pending.add(key);
    }
  }

  /** Sends the invalidations kept during an outage. */
  private flush(): Promise<void> {
    this.flushing ??= this.sendPending().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async sendPending(): Promise<void> {
    while (this.pending.size > 0 && this.redis.ready) {
      const batch = [...this.pending].slice(0, invalidationBatch);
      try {
        await this.delete(batch);
      } catch (error) {
        this.failed('cache invalidation', error);
        return;
      }
      for (const key of batch) this.pending.delete(key);
    }
    if (this.pending.size === 0 && this.overflowed) {
      this.overflowed = false;
      this.readsPausedUntil = Date.now() + this.longestTtlMs;
    }
  }

  /** One DEL per key: keys of a Redis Cluster may live on different nodes. */
  private async delete(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => this.redis.command('DEL', key)));
  }

  private failed(operation: string, error: unknown): void {
    this.onError();
    this.readsPausedUntil = Date.now() + readPauseMs;
    this.redis.reportFailure(operation, error);
  }
}
