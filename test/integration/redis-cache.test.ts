import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { assertError, MediaType, pushBlob, pushImage, randomBlob, send, sha256, uniqueRepo } from '../helpers/http.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * The Redis metadata cache (`storage.cache.blobdescriptor: redis`) with two Wharf processes behind
 * one imaginary load balancer: one Redis, one SQLite file (REGISTRY_DATABASE_PATH), one storage
 * root. A write through A must be what B serves next, whatever B had cached.
 */
const accept = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest].join(', ');

describe('Redis metadata cache shared by two instances', () => {
  let redis: RedisServer;
  let probe: Redis;
  let dataDir: string;
  let a: WharfProcess;
  let b: WharfProcess;

  before(async () => {
    redis = await startRedis();
    probe = redis.client();
    // The probe outlives the outage test's restart; ioredis reports its reconnection attempts here.
    probe.on('error', () => {});
    dataDir = await mkdtemp(join(tmpdir(), 'wharf-redis-cache-'));
    const env = {
      REGISTRY_REDIS_ADDR: redis.address,
      REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'redis',
      REGISTRY_DATABASE_PATH: join(dataDir, 'wharf.db'),
      REGISTRY_HTTP_SECRET: 'shared-by-both-instances',
    };
    // One after the other: the first applies the database migrations.
    a = await startWharf({ dataDir, env });
    b = await startWharf({ dataDir, env });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await probe?.quit();
    await redis?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const getManifest = (instance: WharfProcess, repo: string, reference: string) =>
    send(`${instance.url}/v2/${repo}/manifests/${reference}`, { headers: { accept } });
  const headManifest = (instance: WharfProcess, repo: string, reference: string) =>
    send(`${instance.url}/v2/${repo}/manifests/${reference}`, { method: 'HEAD', headers: { accept } });
  const keyspaceHits = async () => Number(/keyspace_hits:(\d+)/.exec(await probe.info('stats'))?.[1]);

  it('serves repeated pulls from Redis', async () => {
    const repo = uniqueRepo('cache/hits');
    const image = await pushImage(a.url, repo, 'v1');
    assert.equal((await getManifest(b, repo, 'v1')).status, 200);
    assert.equal((await getManifest(b, repo, image.digest)).status, 200);
    assert.equal((await send(`${b.url}/v2/${repo}/blobs/${image.layers[0]?.digest}`)).status, 200);
    // The first reads filled the cache (without waiting for it); wait until they landed.
    const manifestKey = `wharf:1:manifest:${repo}@${image.digest}`;
    await waitFor(async () => (await probe.getBuffer(manifestKey))?.subarray(0, 1).toString() === 'v');
    await waitFor(async () => (await probe.hget(`wharf:1:tags:${repo}`, 'v1'))?.startsWith('v') === true);

    const hitsBefore = await keyspaceHits();
    const byTag = await getManifest(b, repo, 'v1');
    const byDigest = await getManifest(b, repo, image.digest);
    const head = await headManifest(a, repo, 'v1');
    assert.deepEqual(byTag.body, image.bytes, 'the cached manifest is byte for byte what was pushed');
    assert.deepEqual(byDigest.body, image.bytes);
    assert.equal(byTag.headers.get('docker-content-digest'), image.digest);
    assert.equal(head.headers.get('docker-content-digest'), image.digest);
    assert.equal(head.headers.get('content-length'), String(image.bytes.length));
    assert.ok((await keyspaceHits()) >= hitsBefore + 3, 'the three reads were answered by Redis');
    const metrics = (await send(`${b.url}/metrics`)).text();
    const hits = Number(/^registry_storage_cache_total\{type="Hit"\} (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(hits >= 2, `registry_storage_cache_total{type="Hit"} is ${hits}`);
  });

  it('a tag moved on A is served with its new digest by B at once, every time', async () => {
    const repo = uniqueRepo('cache/moving');
    let previous = await pushImage(a.url, repo, 'latest');
    assert.equal((await getManifest(b, repo, 'latest')).headers.get('docker-content-digest'), previous.digest);
    for (let round = 0; round < 8; round++) {
      // B has just read (and cached) the old digest; A moves the tag.
      assert.equal((await headManifest(b, repo, 'latest')).headers.get('docker-content-digest'), previous.digest);
      const next = await pushImage(a.url, repo, 'latest');
      const pulled = await getManifest(b, repo, 'latest');
      assert.equal(pulled.status, 200);
      assert.equal(pulled.headers.get('docker-content-digest'), next.digest, `round ${round}`);
      assert.deepEqual(pulled.body, next.bytes);
      assert.equal((await headManifest(b, repo, 'latest')).headers.get('docker-content-digest'), next.digest);
      previous = next;
    }
  });

  it('a tag or manifest deleted on A is 404 on B at once', async () => {
    const repo = uniqueRepo('cache/deleted');
    const kept = await pushImage(a.url, repo, 'kept');
    const image = await pushImage(a.url, repo, 'gone');
    assert.equal((await getManifest(b, repo, 'gone')).status, 200);
    assert.equal((await getManifest(b, repo, 'kept')).status, 200);

    assert.equal((await send(`${a.url}/v2/${repo}/manifests/gone`, { method: 'DELETE' })).status, 202);
    assertError(await getManifest(b, repo, 'gone'), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await getManifest(b, repo, 'kept')).headers.get('docker-content-digest'), kept.digest);

    // By digest: cached on B, then deleted on A.
    assert.equal((await getManifest(b, repo, image.digest)).status, 200);
    assert.equal((await send(`${a.url}/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' })).status, 202);
    assertError(await getManifest(b, repo, image.digest), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await headManifest(b, repo, image.digest)).status, 404);
  });

  it('a tag that went with its manifest stays gone on B when the manifest is pushed again without it', async () => {
    const repo = uniqueRepo('cache/cascade');
    const image = await pushImage(a.url, repo, 'v1');
    assert.equal((await getManifest(b, repo, 'v1')).status, 200);
    // Deleting the manifest deletes its tags in the database, whichever they are.
    assert.equal((await send(`${a.url}/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' })).status, 202);
    const again = await send(`${a.url}/v2/${repo}/manifests/${image.digest}`, {
      method: 'PUT',
      headers: { 'content-type': image.mediaType },
      body: image.bytes,
    });
    assert.equal(again.status, 201);
    assertError(await getManifest(b, repo, 'v1'), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await getManifest(b, repo, image.digest)).status, 200);
  });

  it('a blob committed on A is visible on B at once, and gone on B once deleted on A', async () => {
    const repo = uniqueRepo('cache/blobs');
    const bytes = randomBlob(2048);
    const digest = sha256(bytes);
    const url = (instance: WharfProcess) => `${instance.url}/v2/${repo}/blobs/${digest}`;
    // A client checks before uploading: B answers 404, which must not be remembered.
    assert.equal((await send(url(b), { method: 'HEAD' })).status, 404);
    await pushBlob(a.url, repo, bytes);
    const head = await send(url(b), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(bytes.length));
    assert.deepEqual((await send(url(b))).body, bytes);

    // Mounted into another repository on A: visible there on B.
    const other = uniqueRepo('cache/mounted');
    assert.equal((await send(`${b.url}/v2/${other}/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    const mount = await send(`${a.url}/v2/${other}/blobs/uploads/?mount=${digest}&from=${repo}`, { method: 'POST' });
    assert.equal(mount.status, 201);
    assert.equal((await send(`${b.url}/v2/${other}/blobs/${digest}`, { method: 'HEAD' })).status, 200);

    await waitFor(async () => (await probe.get(`wharf:1:link:${repo}@${digest}`)) === `v${bytes.length}`);
    assert.equal((await send(url(a), { method: 'DELETE' })).status, 202);
    assert.equal((await send(url(b), { method: 'HEAD' })).status, 404);
    assertError(await send(url(b)), 404, 'BLOB_UNKNOWN');
  });

  it('keeps serving while Redis is down, and uses it again once it is back', async () => {
    const repo = uniqueRepo('cache/outage');
    const first = await pushImage(a.url, repo, 'v1');
    assert.equal((await getManifest(b, repo, 'v1')).status, 200);
    await redis.kill();

    const started = Date.now();
    const second = await pushImage(a.url, repo, 'v1');
    for (const instance of [a, b]) {
      const pulled = await getManifest(instance, repo, 'v1');
      assert.equal(pulled.status, 200);
      assert.equal(pulled.headers.get('docker-content-digest'), second.digest);
      assert.equal((await getManifest(instance, repo, first.digest)).status, 200);
      const layer = second.layers[0]?.digest;
      assert.deepEqual((await send(`${instance.url}/v2/${repo}/blobs/${layer}`)).body, second.layerBytes[0]);
    }
    assert.ok(Date.now() - started < 10_000, 'requests do not wait on the missing Redis');
    await waitFor(async () => /Redis is unreachable/.test(a.output()));

    await redis.restart();
    await waitFor(async () => {
      await getManifest(b, repo, 'v1');
      return (await probe.hget(`wharf:1:tags:${repo}`, 'v1'))?.startsWith('v') === true;
    });
    await waitFor(async () => /Redis is reachable again/.test(b.output()));
    const third = await pushImage(a.url, repo, 'v1');
    assert.equal((await getManifest(b, repo, 'v1')).headers.get('docker-content-digest'), third.digest);
  });
});

describe('in-memory metadata cache (storage.cache.blobdescriptor: inmemory)', () => {
  let wharf: WharfProcess;

  before(async () => {
    wharf = await startWharf({
      env: { REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'inmemory', REGISTRY_STORAGE_CACHE_BLOBDESCRIPTORSIZE: '4' },
    });
  });

  after(async () => {
    await wharf?.close();
  });

  it('serves pulls from memory, and tag moves and deletes exactly as without a cache', async () => {
    const repo = uniqueRepo('memory/app');
    const url = (reference: string) => `${wharf.url}/v2/${repo}/manifests/${reference}`;
    const images = [];
    // More tags and blobs than the cache holds: entries are evicted and read again.
    for (let index = 0; index < 4; index++) images.push(await pushImage(wharf.url, repo, `t${index}`));
    for (let round = 0; round < 2; round++) {
      for (const [index, image] of images.entries()) {
        const pulled = await send(url(`t${index}`), { headers: { accept } });
        assert.equal(pulled.headers.get('docker-content-digest'), image.digest);
        assert.deepEqual(
          (await send(`${wharf.url}/v2/${repo}/blobs/${image.layers[0]?.digest}`)).body,
          image.layerBytes[0],
        );
      }
    }
    const metrics = (await send(`${wharf.url}/metrics`)).text();
    const hits = Number(/^registry_storage_cache_total\{type="Hit"\} (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(hits >= 4, `blob sizes came from the cache (${hits} hits)`);
    const moved = await pushImage(wharf.url, repo, 't0');
    assert.equal((await send(url('t0'), { headers: { accept } })).headers.get('docker-content-digest'), moved.digest);
    const deleted = images[1]?.digest ?? '';
    assert.equal((await send(url(deleted), { headers: { accept } })).status, 200);
    assert.equal((await send(url(deleted), { method: 'DELETE' })).status, 202);
    assertError(await send(url(deleted), { headers: { accept } }), 404, 'MANIFEST_UNKNOWN');
    assertError(await send(url('t1'), { headers: { accept } }), 404, 'MANIFEST_UNKNOWN');
  });
});

/** Polls until `condition` holds (fills and reconnections happen in the background). */
async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
