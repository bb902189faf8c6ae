import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Cluster } from 'ioredis';
import {
  basic,
  basicOf,
  type Credentials,
  call,
  getManifestAs,
  pushImageAs,
  type SmallImage,
  writeHtpasswd,
} from '../helpers/auth.ts';
import { assertError, uniqueRepo } from '../helpers/http.ts';
import { type RedisCluster, startRedisCluster } from '../helpers/redis.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Several `redis.addrs` without `redis.mastername` are a Redis Cluster's nodes, as in Distribution 3
 * (go-redis's universal client): the cache and the lockout spread their keys over the nodes.
 */
const dave: Credentials = { username: 'dave', password: 'dave-secret-4' };

describe('Redis Cluster (several redis.addrs)', () => {
  let work: string;
  let cluster: RedisCluster;
  let probe: Cluster;
  let wharf: WharfProcess;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-redis-cluster-'));
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, [dave]);
    cluster = await startRedisCluster();
    probe = cluster.client();
    wharf = await startWharf({
      configYaml: [
        'storage:',
        '  cache:',
        '    blobdescriptor: redis',
        'redis:',
        `  addrs: [${cluster.addresses.join(', ')}]`,
        'auth:',
        '  htpasswd:',
        `    path: ${htpasswd}`,
        '  lockout:',
        '    attempts: 2',
      ].join('\n'),
    });
  });

  after(async () => {
    await wharf?.close();
    await probe?.quit();
    await cluster?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('caches on the nodes of the cluster and invalidates there', async () => {
    const auth = basicOf(dave);
    const repos = Array.from({ length: 6 }, () => uniqueRepo('cluster/app'));
    const images: SmallImage[] = [];
    for (const repo of repos) images.push(await pushImageAs(wharf.url, repo, 'v1', auth));
    const deadline = Date.now() + 10_000;
    for (const [index, repo] of repos.entries()) {
      while ((await probe.hget(`wharf:1:tags:${repo}`, 'v1'))?.startsWith('v') !== true) {
        assert.ok(Date.now() < deadline, `${repo}:v1 reached the cluster`);
        const pulled = await getManifestAs(wharf.url, repo, 'v1', auth);
        assert.equal(pulled.headers.get('docker-content-digest'), images[index]?.digest);
      }
    }
    const holding = [];
    for (const node of cluster.nodes) {
      const client = node.client();
      holding.push(Number(await client.dbsize()) > 0);
      await client.quit();
    }
    assert.ok(holding.filter(Boolean).length > 1, 'the keys are spread over several nodes');

    const [repo = ''] = repos;
    assert.equal((await call(wharf.url, 'DELETE', `/v2/${repo}/manifests/v1`, auth)).status, 202);
    assert.equal(await probe.exists(`wharf:1:tags:${repo}`), 0);
    assertError(await getManifestAs(wharf.url, repo, 'v1', auth), 404, 'MANIFEST_UNKNOWN');
  });

  it('counts failed logins on the cluster', async () => {
    for (const attempt of [1, 2]) {
      assertError(await call(wharf.url, 'GET', '/v2/', basic('mallory', `guess-${attempt}`)), 401, 'UNAUTHORIZED');
    }
    assertError(await call(wharf.url, 'GET', '/v2/', basic('mallory', 'guess-3')), 429, 'TOOMANYREQUESTS');
    assert.ok((await probe.pttl('wharf:1:login:{account:mallory}:lock')) > 0);
  });
});
