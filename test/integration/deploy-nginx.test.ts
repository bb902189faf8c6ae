import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImageLayout, layoutBlobs, layoutTag } from '../helpers/images.ts';
import { checkDeployedConfig, deployedSitePath, type Nginx, startNginx, startNginxSite } from '../helpers/nginx.ts';
import { expectStatus, randomBlob } from '../helpers/push.ts';
import { seededRandomBytes } from '../helpers/random-bytes.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const projectRoot = resolve(import.meta.dirname, '..', '..');
const composeSitePath = join(projectRoot, 'deploy', 'compose', 'nginx.conf');
const KiB = 1024;

/**
 * The shipped nginx sites (deploy/nginx/wharf.conf, and the plain-HTTP one of the compose
 * scale-out in deploy/compose/nginx.conf) run by real nginx in front of two Wharf processes that
 * share one data directory, SQLite file and http.secret.
 */
describe('the nginx configurations in front of two instances', () => {
  let work: string;
  let instances: [WharfProcess, WharfProcess];
  let nginx: Nginx;
  let composeNginx: Nginx;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-deploy-nginx-'));
    const dataDir = join(work, 'data');
    await mkdir(dataDir);
    const env = {
      REGISTRY_HTTP_SECRET: 'deploy-nginx-test-secret',
      REGISTRY_HTTP_TRUSTEDPROXIES: 'loopback',
      REGISTRY_LOG_FORMATTER: 'json',
      REGISTRY_LOG_ACCESSLOG_DISABLED: 'false',
    };
    const first = await startWharf({ dataDir, env });
    instances = [first, await startWharf({ dataDir, env })];
    const upstreams = instances.map((instance) => instance.host);
    nginx = await startNginx(upstreams);
    const composeSite = await readFile(composeSitePath, 'utf8');
    composeNginx = await startNginxSite((listen) => composeSiteForTest(composeSite, upstreams, listen));
  });

  after(async () => {
    await nginx?.close();
    await composeNginx?.close();
    await Promise.all((instances ?? []).map((instance) => instance.stop()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('deploy/nginx/wharf.conf as shipped, TLS server included, passes nginx -t', async () => {
    assert.match(await checkDeployedConfig(), /test is successful/);
  });

  it('both sites stream bodies, lift the size limit and forward who asked', async () => {
    for (const path of [deployedSitePath, composeSitePath]) {
      const site = await readFile(path, 'utf8');
      for (const directive of [
        'client_max_body_size 0;',
        'proxy_request_buffering off;',
        'proxy_buffering off;',
        'chunked_transfer_encoding on;',
        'proxy_http_version 1.1;',
        'proxy_set_header Connection "";',
        'proxy_set_header Host $http_host;',
        'proxy_set_header X-Forwarded-Host $http_host;',
        'proxy_set_header X-Forwarded-Proto $scheme;',
        'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
        'proxy_read_timeout 600s;',
        'proxy_send_timeout 600s;',
        'client_body_timeout 600s;',
      ]) {
        assert.ok(site.includes(directive), `${path}: ${directive}`);
      }
    }
    const tls = await readFile(deployedSitePath, 'utf8');
    assert.match(tls, /^\s*listen 443 ssl;/m);
    assert.match(tls, /^\s*return 301 https:\/\/\$host\$request_uri;/m);
  });

  for (const [name, proxy] of [
    ['deploy/nginx/wharf.conf', () => nginx],
    ['deploy/compose/nginx.conf', () => composeNginx],
  ] as const) {
    it(`pushes and pulls with skopeo byte for byte through ${name}, both instances answering`, async () => {
      const repository = `deploy/${name.includes('compose') ? 'compose' : 'tls'}`;
      const layout = join(work, `${repository.replace('/', '-')}-source`);
      const image = await buildImageLayout(layout, {
        tag: 'v1',
        layers: [
          { files: { 'etc/motd': `behind ${name}\n` } },
          { files: { 'opt/data.bin': seededRandomBytes(`${name}-1`, 1536 * KiB) } },
          { files: { 'opt/more.bin': seededRandomBytes(`${name}-2`, 96 * KiB) } },
        ],
      });
      const before = instances.map((instance) => servedRepository(instance, repository));
      await skopeo(['copy', `oci:${layout}:v1`, `docker://${proxy().host}/${repository}:v1`]);
      const pulled = join(work, `${repository.replace('/', '-')}-pulled`);
      await skopeo(['copy', `docker://${proxy().host}/${repository}:v1`, `oci:${pulled}:v1`]);

      assert.equal((await layoutTag(pulled, 'v1')).digest, image.manifest.digest);
      const pulledBlobs = await layoutBlobs(pulled);
      const sourceBlobs = await layoutBlobs(layout);
      assert.deepEqual([...pulledBlobs.keys()].sort(), [...image.blobDigests].sort());
      for (const [digest, blob] of pulledBlobs) {
        const original = sourceBlobs.get(digest);
        assert.ok(original, `${digest} was pushed`);
        assert.ok((await readFile(blob.path)).equals(await readFile(original.path)), `bytes of ${digest}`);
      }
      instances.forEach((instance, index) => {
        assert.ok(servedRepository(instance, repository) > (before[index] ?? 0), `instance ${index} answered none`);
      });
    });
  }

  it('streams a chunked upload body through to Wharf and the client address through X-Forwarded-For', async () => {
    const blob = randomBlob(300 * KiB + 17);
    const start = await fetch(`${nginx.url}/v2/deploy/chunked/blobs/uploads/`, {
      method: 'POST',
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    await expectStatus(start, 202, 'POST through nginx');
    const location = new URL(start.headers.get('location') ?? '', nginx.url);
    // A body of unknown length: fetch sends it with Transfer-Encoding: chunked.
    const chunks = [blob.bytes.subarray(0, 100 * KiB), blob.bytes.subarray(100 * KiB)];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks.shift();
        if (chunk) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const patch = await fetch(location, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit);
    await expectStatus(patch, 202, 'chunked PATCH through nginx');
    assert.equal(patch.headers.get('range'), `0-${blob.bytes.length - 1}`);
    const commit = new URL(patch.headers.get('location') ?? '', nginx.url);
    commit.searchParams.set('digest', blob.digest);
    await expectStatus(await fetch(commit, { method: 'PUT' }), 201, 'PUT through nginx');
    const pulled = await fetch(`${composeNginx.url}/v2/deploy/chunked/blobs/${blob.digest}`);
    await expectStatus(pulled, 200, 'GET through the other nginx');
    assert.ok(Buffer.from(await pulled.arrayBuffer()).equals(blob.bytes));

    const remoteAddresses = instances.flatMap((instance) =>
      instance
        .output()
        .split('\n')
        .map(jsonLine)
        .filter((entry) => entry?.['http.request.method'] === 'POST' && entry['vars.name'] === 'deploy/chunked')
        .map((entry) => entry?.['http.request.remoteaddr']),
    );
    assert.deepEqual(remoteAddresses, ['203.0.113.7']);
  });
});

/** The compose site with the test's instances as its upstream servers, listening on `listen`. */
function composeSiteForTest(site: string, upstreams: readonly string[], listen: string): string {
  const serverLine = /^([ \t]*)server[ \t]+wharf-\d+:5000([^;\n]*);[ \t]*\n/gm;
  const [first] = [...site.matchAll(serverLine)];
  if (!first) throw new Error(`${composeSitePath}: no wharf-N upstream servers`);
  const [, indent, parameters] = first;
  const servers = upstreams.map((upstream) => `${indent}server ${upstream}${parameters};\n`).join('');
  const rendered = site.replace(serverLine, (_line, _indent, _parameters, offset: number) =>
    offset === first.index ? servers : '',
  );
  if (!/^([ \t]*)listen 80;/m.test(rendered)) throw new Error(`${composeSitePath}: no listen 80`);
  return rendered.replace(/^([ \t]*)listen 80;/m, `$1listen ${listen};`);
}

/** How many requests for `repository` the instance's access log shows. */
function servedRepository(instance: WharfProcess, repository: string): number {
  return instance
    .output()
    .split('\n')
    .map(jsonLine)
    .filter((entry) => entry?.['vars.name'] === repository && entry['http.response.status'] !== undefined).length;
}

function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
