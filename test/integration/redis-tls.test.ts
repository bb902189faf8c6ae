import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { CertificateAuthority } from '../../src/http/tls/certificate-authority.ts';
import { MediaType, pushImage, send, uniqueRepo } from '../helpers/http.ts';
import { type RedisServer, type RedisTlsFiles, startRedis } from '../helpers/redis.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Redis over TLS with client certificates (Distribution 3's `redis.tls.certificate`, `key` and
 * `clientcas`, the latter the authorities the server's certificate must chain to).
 */
describe('Redis over TLS (redis.tls)', () => {
  let work: string;
  let files: RedisTlsFiles;
  let redis: RedisServer;
  let probe: Redis;
  let wharf: WharfProcess;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-redis-tls-'));
    const ca = await CertificateAuthority.create({ commonName: 'Wharf Test Redis CA', days: 1 });
    const server = await ca.issueServerCertificate({ hosts: ['127.0.0.1', 'localhost'], days: 1 });
    const client = await ca.issueClientCertificate({ name: 'wharf', days: 1 });
    files = {
      certificate: join(work, 'redis.crt'),
      key: join(work, 'redis.key'),
      ca: join(work, 'ca.crt'),
      clientCertificate: join(work, 'wharf.crt'),
      clientKey: join(work, 'wharf.key'),
    };
    await writeFile(files.certificate, server.certificatePem);
    await writeFile(files.key, server.keyPem, { mode: 0o600 });
    await writeFile(files.ca, ca.certificatePem);
    await writeFile(files.clientCertificate, client.certificatePem);
    await writeFile(files.clientKey, client.keyPem, { mode: 0o600 });
    redis = await startRedis({ tls: files });
    probe = redis.client();
  });

  after(async () => {
    await wharf?.close();
    await probe?.quit();
    await redis?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('connects with the client certificate, verifies the server against clientcas and caches there', async () => {
    wharf = await startWharf({
      configYaml: [
        'storage:',
        '  cache:',
        '    blobdescriptor: redis',
        'redis:',
        `  addr: ${redis.address}`,
        '  tls:',
        `    certificate: ${files.clientCertificate}`,
        `    key: ${files.clientKey}`,
        `    clientcas: [${files.ca}]`,
      ].join('\n'),
    });
    const repo = uniqueRepo('tls/app');
    const image = await pushImage(wharf.url, repo, 'v1');
    const key = `wharf:1:manifest:${repo}@${image.digest}`;
    const deadline = Date.now() + 10_000;
    while ((await probe.exists(key)) === 0) {
      assert.ok(Date.now() < deadline, 'the manifest reached Redis over TLS');
      const pulled = await send(`${wharf.url}/v2/${repo}/manifests/${image.digest}`, {
        headers: { accept: MediaType.ociManifest },
      });
      assert.deepEqual(pulled.body, image.bytes);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(wharf.output(), /connected to Redis/);
  });

  it('refuses a server whose certificate does not chain to clientcas, and keeps serving without Redis', async () => {
    const stranger = await CertificateAuthority.create({ commonName: 'Some Other CA', days: 1 });
    const strangerCa = join(work, 'stranger-ca.crt');
    await writeFile(strangerCa, stranger.certificatePem);
    const distrustful = await startWharf({
      configYaml: [
        'storage:',
        '  cache:',
        '    blobdescriptor: redis',
        'redis:',
        `  addr: ${redis.address}`,
        '  tls:',
        `    certificate: ${files.clientCertificate}`,
        `    key: ${files.clientKey}`,
        `    clientcas: [${strangerCa}]`,
      ].join('\n'),
    });
    try {
      const repo = uniqueRepo('tls/distrust');
      const image = await pushImage(distrustful.url, repo, 'v1');
      const pulled = await send(`${distrustful.url}/v2/${repo}/manifests/v1`, {
        headers: { accept: MediaType.ociManifest },
      });
      assert.equal(pulled.headers.get('docker-content-digest'), image.digest);
      const deadline = Date.now() + 10_000;
      while (!/Redis is unreachable/.test(distrustful.output())) {
        assert.ok(Date.now() < deadline, distrustful.output());
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.match(distrustful.output(), /certificate/i);
      assert.equal(await probe.exists(`wharf:1:tags:${repo}`), 0);
    } finally {
      await distrustful.close();
    }
  });
});
