import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ProxyRouter } from '../../src/replication/proxy/proxy-router.ts';
import { SingleFlight } from '../../src/replication/proxy/single-flight.ts';
import { SpoolFile } from '../../src/replication/proxy/spool-file.ts';
import { UpstreamPool } from '../../src/replication/proxy/upstream-pool.ts';
import {
  localRestName,
  remoteRepositoryName,
  type UpstreamSettings,
} from '../../src/replication/proxy/upstream-settings.ts';

let workDir: string;
before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'wharf-proxy-unit-'));
});
after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function settings(url: string, remoteNamespace?: string): UpstreamSettings {
  return { url, credentials: undefined, ca: undefined, insecure: false, tagTtlMs: 60_000, remoteNamespace };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('upstream repository names', () => {
  it('puts Docker Hub single names under library/, locally and upstream', () => {
    const hub = settings('https://registry-1.docker.io');
    assert.equal(remoteRepositoryName(hub, 'nginx'), 'library/nginx');
    assert.equal(localRestName(hub, 'nginx'), 'library/nginx');
    assert.equal(remoteRepositoryName(hub, 'bitnami/redis'), 'bitnami/redis');
    assert.equal(remoteRepositoryName(settings('https://index.docker.io'), 'alpine'), 'library/alpine');
  });

  it('leaves other registries alone and applies the remote namespace', () => {
    assert.equal(remoteRepositoryName(settings('https://ghcr.io'), 'app'), 'app');
    const namespaced = settings('https://registry.example.com', 'team/images');
    assert.equal(remoteRepositoryName(namespaced, 'app'), 'team/images/app');
    assert.equal(localRestName(namespaced, 'app'), 'app');
    const hubNamespace = settings('https://registry-1.docker.io', 'bitnami');
    assert.equal(remoteRepositoryName(hubNamespace, 'redis'), 'bitnami/redis');
    assert.equal(localRestName(hubNamespace, 'redis'), 'redis');
  });
});

describe('SpoolFile', () => {
  it('lets readers joining early, late and at an offset read every byte as it arrives', async () => {
    const spool = await SpoolFile.create(join(workDir, 'spool'), 12);
    assert.deepEqual(await readdir(join(workDir, 'spool')), [], 'the file is unlinked at once');
    const early = readAll(spool.reader());
    await spool.append(Buffer.from('hello '));
    const late = readAll(spool.reader());
    const ranged = readAll(spool.reader(3, 7));
    await spool.append(Buffer.from('world!'));
    spool.complete();
    const after = readAll(spool.reader());
    spool.close();
    assert.equal((await early).toString(), 'hello world!');
    assert.equal((await late).toString(), 'hello world!');
    assert.equal((await ranged).toString(), 'lo wo');
    assert.equal((await after).toString(), 'hello world!');
  });

  it('ends a waiting reader with the fetch error', async () => {
    const spool = await SpoolFile.create(join(workDir, 'spool'), 10);
    const reading = readAll(spool.reader());
    await spool.append(Buffer.from('abc'));
    spool.fail(new Error('upstream went away'));
    spool.close();
    await assert.rejects(reading, /upstream went away/);
  });

  it('reads an empty blob as nothing', async () => {
    const spool = await SpoolFile.create(join(workDir, 'spool'), 0);
    spool.complete();
    assert.equal((await readAll(spool.reader())).length, 0);
    spool.close();
  });
});

describe('SingleFlight', () => {
  it('runs concurrent work for one key once and forgets it when settled', async () => {
    const flight = new SingleFlight<number>();
    let runs = 0;
    const work = async () => {
      runs += 1;
      const run = runs;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return run;
    };
    const results = await Promise.all([flight.run('a', work), flight.run('a', work), flight.run('b', work)]);
    assert.deepEqual(results.slice(0, 2), [1, 1]);
    assert.equal(runs, 2);
    assert.equal(flight.size, 0);
    await flight.run('a', work);
    assert.equal(runs, 3);
  });
});

describe('ProxyRouter', () => {
  const logger = createLogger({ level: 'fatal', formatter: 'json', fields: {} });
  const upstreams = new UpstreamPool({ userAgent: 'test' });
  after(() => upstreams.close());
  const local = new Set(['mine/app']);
  const router = new ProxyRouter({
    routes: [
      { prefix: 'mirrors', settings: settings('https://one.example.com') },
      { prefix: 'mirrors/quay', settings: settings('https://quay.example.com') },
      { prefix: 'hub', settings: settings('https://registry-1.docker.io') },
    ],
    registry: undefined,
    mirror: 'hub',
    projects: undefined,
    repositoryExists: async (name) => local.has(name),
    upstreams,
    logger,
  });

  it('sends a name to the route of its longest prefix', async () => {
    const quay = await router.resolve('mirrors/quay/org/app', true);
    assert.equal(quay?.upstream.url, 'https://quay.example.com');
    assert.equal(quay?.remoteName, 'org/app');
    assert.equal(quay?.localName, 'mirrors/quay/org/app');
    const other = await router.resolve('mirrors/other/app', true);
    assert.equal(other?.upstream.url, 'https://one.example.com');
    assert.equal(other?.remoteName, 'other/app');
    const hub = await router.resolve('hub/nginx', true);
    assert.equal(hub?.localName, 'hub/library/nginx');
    assert.equal(hub?.remoteName, 'library/nginx');
  });

  it('sends reads of unclaimed names to the mirror, and nothing else', async () => {
    const mirrored = await router.resolve('library/nginx', true);
    assert.equal(mirrored?.source, 'mirror');
    assert.equal(mirrored?.localName, 'hub/library/nginx');
    assert.equal(mirrored?.remoteName, 'library/nginx');
    assert.equal((await router.resolve('nginx', true))?.localName, 'hub/library/nginx');
    assert.equal(await router.resolve('mine/app', true), undefined, 'a local repository');
    assert.equal(await router.resolve('library/nginx', false), undefined, 'a push');
  });

  it('refuses pushes into a route with DENIED', async () => {
    const refusal = (await router.resolve('hub/nginx', false))?.refusal();
    assert.equal(refusal?.code, 'DENIED');
    assert.match(
      refusal?.message ?? '',
      /"hub\/" is routed to a pull-through cache of https:\/\/registry-1\.docker\.io/,
    );
  });
});

describe('proxy configuration', () => {
  it('reads Distribution keys from the environment and Wharf routes from the file', async () => {
    const file = join(workDir, 'proxy.yml');
    await writeFile(
      file,
      [
        'proxy:',
        '  routes:',
        '    - prefix: ghcr/',
        '      remoteurl: https://ghcr.io',
        '    - prefix: quay',
        '      remoteurl: https://quay.io',
        '      username: bot',
        '      password: pw',
        '      ttl: 10m',
        '      remotenamespace: org',
        '  mirror: ghcr',
        '',
      ].join('\n'),
    );
    const { config, warnings } = await loadConfig({
      file,
      env: { REGISTRY_PROXY_REMOTEURL: 'https://registry-1.docker.io', REGISTRY_PROXY_TTL: '1h' },
    });
    assert.deepEqual(warnings, []);
    assert.equal(config.proxy.remoteurl, 'https://registry-1.docker.io');
    assert.equal(config.proxy.ttl, 3_600_000);
    assert.equal(config.proxy.mirror, 'ghcr');
    assert.deepEqual(config.proxy.routes, [
      { prefix: 'ghcr', remoteurl: 'https://ghcr.io', ttl: 300_000, insecure: false },
      {
        prefix: 'quay',
        remoteurl: 'https://quay.io',
        username: 'bot',
        password: 'pw',
        ttl: 600_000,
        remotenamespace: 'org',
        insecure: false,
      },
    ]);
  });

  it('names what is wrong in a route', async () => {
    const load = async (name: string, lines: string[]) => {
      const file = join(workDir, name);
      await writeFile(file, `${lines.join('\n')}\n`);
      const error = await loadConfig({ file, env: {} }).then(
        () => assert.fail('loaded'),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof ConfigError);
      return error.message;
    };
    const malformed = await load('malformed.yml', [
      'proxy:',
      '  routes:',
      '    - prefix: Bad_Prefix',
      '      remoteurl: ftp://example.com',
    ]);
    assert.match(malformed, /proxy\.routes\[0\]\.prefix: expected a repository name prefix/);
    assert.match(malformed, /proxy\.routes\[0\]\.remoteurl: expected an http:\/\/ or https:\/\/ URL/);
    const duplicate = await load('duplicate.yml', [
      'proxy:',
      '  routes:',
      '    - prefix: dup',
      '      remoteurl: https://a.example.com',
      '    - prefix: dup/',
      '      remoteurl: https://b.example.com',
    ]);
    assert.match(duplicate, /proxy\.routes\[1\]\.prefix: another route has the prefix "dup"/);
    const halfCredentials = await load('half.yml', ['proxy:', '  remoteurl: https://a.example.com', '  username: u']);
    assert.match(halfCredentials, /proxy\.password: is required with the other credential key/);
  });

  it('still warns about the Distribution key it does not implement', async () => {
    const { warnings } = await loadConfig({ env: { REGISTRY_PROXY_EXEC_COMMAND: 'helper' } });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /^proxy\.exec: not implemented by Wharf yet and ignored; use proxy\.username/);
  });
});
