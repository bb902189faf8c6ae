import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { CacheStore } from '../../src/cache/cache-store.ts';
import { MemoryCacheStore } from '../../src/cache/memory-cache-store.ts';
import { RedisCacheStore } from '../../src/cache/redis-cache-store.ts';
import { connectRedis, type RedisConnection } from '../../src/cache/redis-connection.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';

/**
 * The cache stores' contract, on a real Redis and in memory: leases make a fill that raced a write
 * harmless, groups are invalidated whole, misses are not remembered, and a Redis that cannot be
 * reached turns into misses while invalidations wait to be sent.
 */
const logger = createLogger({ level: 'silent', formatter: 'json', fields: {} });
const value = (text: string) => Buffer.from(text);

function contract(name: string, open: () => Promise<{ store: CacheStore; close(): Promise<void> }>) {
  describe(`${name}: cache store contract`, () => {
    let store: CacheStore;
    let close: () => Promise<void>;
    let next = 0;
    const key = () => `wharf:test:${name}:${++next}`;

    before(async () => {
      ({ store, close } = await open());
    });

    after(async () => {
      await close?.();
    });

    it('a miss hands out a lease; the fill is what the next lookup finds', async () => {
      const slot = { key: key() };
      const first = await store.lookup(slot, 60_000);
      assert.equal(first.hit, false);
      assert.ok(!first.hit && first.lease !== undefined);
      const second = await store.lookup(slot, 60_000);
      assert.deepEqual(second, { hit: false, lease: undefined }, 'the lease is not handed out twice');
      await store.fill(slot, first.lease, value('sha256:abc 42'), 60_000);
      assert.deepEqual(await store.lookup(slot, 60_000), { hit: true, value: value('sha256:abc 42') });
    });

    it('an invalidation between lookup and fill revokes the lease: the old value is never stored', async () => {
      const slot = { key: key() };
      const found = await store.lookup(slot, 60_000);
      assert.ok(!found.hit && found.lease !== undefined);
      await store.invalidate([slot.key]);
      await store.fill(slot, found.lease, value('read before the write'), 60_000);
      const after = await store.lookup(slot, 60_000);
      assert.equal(after.hit, false);
      assert.ok(!after.hit && after.lease !== undefined && after.lease !== found.lease, 'a fresh lease');
    });

    it('fields of a group are filled separately and invalidated together', async () => {
      const group = key();
      for (const tag of ['v1', 'v2']) {
        const found = await store.lookup({ key: group, field: tag }, 60_000);
        assert.ok(!found.hit && found.lease !== undefined);
        await store.fill({ key: group, field: tag }, found.lease, value(`manifest of ${tag}`), 60_000);
      }
      assert.deepEqual(await store.lookup({ key: group, field: 'v2' }, 60_000), {
        hit: true,
        value: value('manifest of v2'),
      });
      const pending = await store.lookup({ key: group, field: 'v3' }, 60_000);
      assert.ok(!pending.hit && pending.lease !== undefined);
      await store.invalidate([group]);
      await store.fill({ key: group, field: 'v3' }, pending.lease, value('stale'), 60_000);
      for (const tag of ['v1', 'v2', 'v3']) {
        assert.equal((await store.lookup({ key: group, field: tag }, 60_000)).hit, false, tag);
      }
    });

    it('entries expire after their TTL; a group with its first field', async () => {
      const slot = { key: key() };
      const group = { key: key(), field: 'latest' };
      for (const target of [slot, group]) {
        const found = await store.lookup(target, 300);
        assert.ok(!found.hit && found.lease !== undefined);
        await store.fill(target, found.lease, value('short-lived'), 300);
        assert.equal((await store.lookup(target, 300)).hit, true);
      }
      await new Promise((resolve) => setTimeout(resolve, 450));
      assert.equal((await store.lookup(slot, 300)).hit, false);
      assert.equal((await store.lookup(group, 300)).hit, false);
    });
  });
}

describe('Redis cache store', () => {
  let redis: RedisServer;
  let probe: Redis;
  const connections: RedisConnection[] = [];
  const connect = async (readtimeout = 3_000) => {
    const connection = await connectRedis(
      {
        addr: redis.address,
        addrs: [],
        db: 0,
        dialtimeout: 2_000,
        readtimeout,
        writetimeout: readtimeout,
        tls: { enabled: false, clientcas: [] },
      },
      logger,
    );
    connections.push(connection);
    await waitFor(() => connection.ready);
    return connection;
  };

  before(async () => {
    redis = await startRedis();
    probe = redis.client();
  });

  after(async () => {
    for (const connection of connections) await connection.close();
    await probe?.quit();
    await redis?.stop();
  });

  contract('redis', async () => ({ store: new RedisCacheStore(await connect()), close: async () => {} }));

  it('writes values and leases where another instance reads them, with a TTL on every key', async () => {
    const [one, two] = [new RedisCacheStore(await connect()), new RedisCacheStore(await connect())];
    const slot = { key: 'wharf:test:shared' };
    const found = await one.lookup(slot, 60_000);
    assert.ok(!found.hit && found.lease !== undefined);
    assert.deepEqual(await two.lookup(slot, 60_000), { hit: false, lease: undefined }, 'instance one holds the lease');
    const leaseTtl = await probe.pttl(slot.key);
    assert.ok(leaseTtl > 0 && leaseTtl <= 10_000, `a lease expires by itself (${leaseTtl} ms)`);
    await one.fill(slot, found.lease, value('42'), 60_000);
    assert.deepEqual(await two.lookup(slot, 60_000), { hit: true, value: value('42') });
    assert.equal(await probe.get(slot.key), 'v42');
    const ttl = await probe.pttl(slot.key);
    assert.ok(ttl > 50_000 && ttl <= 60_000, `the value's TTL (${ttl} ms)`);
    const group = { key: 'wharf:test:group', field: 'latest' };
    const lease = await one.lookup(group, 30_000);
    assert.ok(!lease.hit && lease.lease !== undefined);
    const groupTtl = await probe.pttl(group.key);
    assert.ok(groupTtl > 25_000 && groupTtl <= 30_000, `the group's TTL (${groupTtl} ms)`);
  });

  it('answers misses while Redis does not answer, at the cost of one timeout', async () => {
    const store = new RedisCacheStore(await connect(200));
    const slot = { key: 'wharf:test:paused' };
    const found = await store.lookup(slot, 60_000);
    assert.ok(!found.hit && found.lease !== undefined);
    await store.fill(slot, found.lease, value('cached'), 60_000);
    await probe.call('CLIENT', 'PAUSE', '1000', 'ALL');
    const started = Date.now();
    for (let request = 0; request < 20; request++) {
      assert.deepEqual(await store.lookup(slot, 60_000), { hit: false, lease: undefined });
    }
    assert.ok(Date.now() - started < 800, `20 lookups took ${Date.now() - started} ms`);
    await waitFor(async () => (await store.lookup(slot, 60_000)).hit, 5_000);
  });

  it('keeps the invalidations Redis could not receive and sends them before reading again', async () => {
    const proxy = await startProxy(redis.port);
    const connection = await connectRedis(
      {
        addr: `127.0.0.1:${proxy.port}`,
        addrs: [],
        db: 0,
        dialtimeout: 500,
        readtimeout: 500,
        writetimeout: 500,
        tls: { enabled: false, clientcas: [] },
      },
      logger,
    );
    connections.push(connection);
    await waitFor(() => connection.ready);
    const store = new RedisCacheStore(connection);
    const slot = { key: 'wharf:test:partitioned' };
    const found = await store.lookup(slot, 60_000);
    assert.ok(!found.hit && found.lease !== undefined);
    await store.fill(slot, found.lease, value('old'), 60_000);

    // This instance loses Redis; the others (the probe) do not.
    proxy.cut();
    await waitFor(() => !connection.ready);
    await store.invalidate([slot.key]);
    assert.deepEqual(await store.lookup(slot, 60_000), { hit: false, lease: undefined });
    assert.equal(await probe.get(slot.key), 'vold', 'the invalidation did not reach Redis');

    proxy.restore();
    await waitFor(async () => (await probe.exists(slot.key)) === 0, 5_000);
    const after = await store.lookup(slot, 60_000);
    assert.ok(!after.hit && after.lease !== undefined, 'reads resume once the invalidation is through');
    proxy.close();
  });
});

contract('memory', async () => ({ store: new MemoryCacheStore(0), close: async () => {} }));

describe('memory cache store', () => {
  it('forgets the least recently used values beyond its size', async () => {
    const store = new MemoryCacheStore(3);
    const fill = async (key: string, field?: string) => {
      const found = await store.lookup({ key, field }, 60_000);
      assert.ok(!found.hit && found.lease !== undefined);
      await store.fill({ key, field }, found.lease, value(key), 60_000);
    };
    await fill('a');
    await fill('b');
    await fill('tags', 'v1');
    assert.equal((await store.lookup({ key: 'a' }, 60_000)).hit, true, 'a is now the most recently used');
    await fill('c');
    assert.equal(store.size, 3);
    assert.equal((await store.lookup({ key: 'b' }, 60_000)).hit, false, 'b was the least recently used');
    assert.equal((await store.lookup({ key: 'a' }, 60_000)).hit, true);
  });
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A TCP relay to Redis that can drop every connection and refuse new ones, as a network partition. */
async function startProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    port: address.port,
    cut() {
      open = false;
      dropAll();
    },
    restore() {
      open = true;
    },
    close() {
      server.close();
      dropAll();
    },
  };
}
