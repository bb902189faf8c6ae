import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { MediaType, pushImage, send, uniqueRepo } from '../helpers/http.ts';
import { type RedisSentinel, startRedisSentinel } from '../helpers/redis.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Distribution 3's Sentinel settings: `redis.addrs` lists sentinels and `redis.mastername` the
 * group; Wharf asks a sentinel for the master and keeps its cache there.
 */
describe('Redis through Sentinel (redis.addrs + redis.mastername)', () => {
  let sentinel: RedisSentinel;
  let master: Redis;
  let wharf: WharfProcess;

  before(async () => {
    sentinel = await startRedisSentinel('wharf-cache');
    master = sentinel.master.client();
    // It is killed by the failover test; ioredis reports its reconnection attempts here.
    master.on('error', () => {});
    wharf = await startWharf({
      configYaml: [
        'storage:',
        '  cache:',
        '    blobdescriptor: redis',
        'redis:',
        `  addrs: [${sentinel.address}]`,
        `  mastername: ${sentinel.masterName}`,
      ].join('\n'),
    });
  });

  after(async () => {
    await wharf?.close();
    master?.disconnect();
    await sentinel?.stop();
  });

  it('finds the master through the sentinel and serves pushes and pulls with its cache there', async () => {
    const repo = uniqueRepo('sentinel/app');
    const image = await pushImage(wharf.url, repo, 'v1');
    const accept = MediaType.ociManifest;
    const cachedTag = async () => (await master.hget(`wharf:1:tags:${repo}`, 'v1'))?.startsWith('v') === true;
    const deadline = Date.now() + 10_000;
    while (!(await cachedTag())) {
      assert.ok(Date.now() < deadline, 'the tag reached the master');
      const pulled = await send(`${wharf.url}/v2/${repo}/manifests/v1`, { headers: { accept } });
      assert.equal(pulled.status, 200);
      assert.equal(pulled.headers.get('docker-content-digest'), image.digest);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const layer = await send(`${wharf.url}/v2/${repo}/blobs/${image.layers[0]?.digest}`);
    assert.deepEqual(layer.body, image.layerBytes[0]);
    assert.match(
      wharf.output(),
      new RegExp(`connected to Redis redis="?sentinel ${sentinel.masterName} via ${sentinel.address}`),
    );

    const next = await pushImage(wharf.url, repo, 'v1');
    assert.equal(await master.hget(`wharf:1:tags:${repo}`, 'v1'), null, 'the tag write invalidated it on the master');
    const pulled = await send(`${wharf.url}/v2/${repo}/manifests/v1`, { headers: { accept } });
    assert.equal(pulled.headers.get('docker-content-digest'), next.digest);
  });

  it('follows a failover to the promoted replica, serving throughout', async () => {
    const repo = uniqueRepo('sentinel/failover');
    const accept = MediaType.ociManifest;
    await sentinel.master.kill();
    // Until the sentinel promotes the replica, requests go to the database.
    const image = await pushImage(wharf.url, repo, 'v1');
    const promoted = sentinel.replica.client();
    try {
      const deadline = Date.now() + 20_000;
      while ((await promoted.hget(`wharf:1:tags:${repo}`, 'v1'))?.startsWith('v') !== true) {
        assert.ok(Date.now() < deadline, `no cache on the promoted replica:\n${sentinel.output()}`);
        const pulled = await send(`${wharf.url}/v2/${repo}/manifests/v1`, { headers: { accept } });
        assert.equal(pulled.status, 200);
        assert.equal(pulled.headers.get('docker-content-digest'), image.digest);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.match(sentinel.output(), /\+switch-master/);
      assert.match(await promoted.info('replication'), /role:master/);
      const next = await pushImage(wharf.url, repo, 'v1');
      assert.equal(await promoted.hget(`wharf:1:tags:${repo}`, 'v1'), null, 'invalidated on the new master');
      const pulled = await send(`${wharf.url}/v2/${repo}/manifests/v1`, { headers: { accept } });
      assert.equal(pulled.headers.get('docker-content-digest'), next.digest);
    } finally {
      await promoted.quit();
    }
  });
});
