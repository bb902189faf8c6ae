import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  addMember,
  api,
  assertSameImage,
  basicOf,
  type Credentials,
  createProject,
  createUser,
  credsFlag,
  getManifestAs,
  pushImageAs,
  writeHtpasswd,
} from '../helpers/auth.ts';
import { type CountingForwarder, startCountingForwarder } from '../helpers/counting-forwarder.ts';
import { assertError, send } from '../helpers/http.ts';
import { type BuiltImage, buildImageLayout } from '../helpers/images.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const admin: Credentials = { username: 'admin', password: 'first-admin-password' };
const dev: Credentials = { username: 'dev', password: 'dev-password-1' };
const outsider: Credentials = { username: 'outsider', password: 'outsider-password-1' };
/** What the cache logs in to the private upstream with. */
const puller: Credentials = { username: 'puller', password: 'upstream-secret-7f3a' };

/**
 * Proxy projects in projects mode: several projects, each caching its own upstream (Debian's
 * docker-registry, and another Wharf that wants credentials), beside ordinary projects that accept
 * pushes, all managed through /api/v1 and pulled with skopeo through the token service.
 */
describe('proxy projects (PUT /api/v1/projects/{name}/proxy-cache)', () => {
  let work: string;
  let upstream: ReferenceRegistry;
  let forwarder: CountingForwarder;
  let privateUpstream: WharfProcess;
  let wharf: WharfProcess;
  let image: BuiltImage;
  let layout: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-proxy-projects-'));
    upstream = await startReferenceRegistry();
    forwarder = await startCountingForwarder(upstream.url);
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, [puller]);
    privateUpstream = await startWharf({
      configYaml: ['auth:', '  htpasswd:', `    path: ${htpasswd}`].join('\n'),
    });
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password, REGISTRY_DATABASE_PATH: join(work, 'proxy.db') },
      configYaml: ['auth:', '  projects:', '    enabled: true', 'proxy:', '  mirror: hub', ''].join('\n'),
    });
    layout = join(work, 'source');
    image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [
        { files: { 'etc/motd': 'cached through a proxy project\n' } },
        { files: { 'opt/data': 'z'.repeat(50_000) } },
      ],
    });
    await skopeo(['copy', `oci:${layout}:v1`, `docker://${upstream.host}/team/app:v1`]);
    await skopeo(['copy', `oci:${layout}:v1`, `docker://${upstream.host}/other/app:v1`]);
    await skopeo([
      'copy',
      `--dest-creds=${credsFlag(puller)}`,
      `oci:${layout}:v1`,
      `docker://${privateUpstream.host}/secret/app:v1`,
    ]);
    await createUser(wharf.url, admin, dev);
    await createUser(wharf.url, admin, outsider);
  });

  after(async () => {
    await wharf?.close();
    await privateUpstream?.close();
    await forwarder?.close();
    await upstream?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('lets only administrators make an empty project a cache, and never shows the password', async () => {
    await createProject(wharf.url, admin, 'hub');
    const settings = {
      url: forwarder.url,
      credential: { type: 'basic', access_key: 'someone', access_secret: 'never-shown-4d1c' },
      tag_ttl_seconds: 3600,
    };
    const refused = await api(wharf.url, 'PUT', '/projects/hub/proxy-cache', { as: dev, body: settings });
    assertError(refused, 403, 'DENIED');

    const saved = await api(wharf.url, 'PUT', '/projects/hub/proxy-cache', { as: admin, body: settings });
    assert.equal(saved.status, 200, saved.text());
    assert.doesNotMatch(saved.text(), /never-shown-4d1c/);
    assert.deepEqual(saved.json<{ credential: unknown }>().credential, {
      type: 'basic',
      access_key: 'someone',
      has_secret: true,
    });
    const shown = await api(wharf.url, 'GET', '/projects/hub/proxy-cache', { as: admin });
    assert.equal(shown.status, 200);
    assert.doesNotMatch(shown.text(), /never-shown-4d1c/);
    const body = shown.json<Record<string, unknown>>();
    assert.equal(body.url, forwarder.url);
    assert.equal(body.tag_ttl_seconds, 3600);
    assert.equal(body.remote_namespace, null);
    const openapi = await api(wharf.url, 'GET', '/openapi.json');
    const paths = openapi.json<{ paths: Record<string, Record<string, unknown>> }>().paths;
    assert.deepEqual(Object.keys(paths['/projects/{name}/proxy-cache'] ?? {}).sort(), ['delete', 'get', 'put']);
    assert.ok(paths['/proxy-caches']?.get, 'the list is documented');
    const listed = await api(wharf.url, 'GET', '/proxy-caches', { as: admin });
    assert.deepEqual(
      listed.json<{ project: string }[]>().map((cache) => cache.project),
      ['hub'],
    );
    // Encrypted at rest: neither the database nor its write-ahead log holds the password.
    const files = (await readdir(work)).filter((name) => name.startsWith('proxy.db'));
    const stored = (await Promise.all(files.map((file) => readFile(join(work, file))))).map((bytes) =>
      bytes.toString('latin1'),
    );
    assert.ok(
      stored.some((bytes) => bytes.includes('someone')),
      'the row is in the files read (the user name is kept as given)',
    );
    for (const bytes of stored) assert.doesNotMatch(bytes, /never-shown-4d1c/, 'the password is not');

    // The upstream needs no credentials: none are kept.
    const anonymous = await api(wharf.url, 'PUT', '/projects/hub/proxy-cache', {
      as: admin,
      body: { url: forwarder.url, credential: { type: 'none' }, tag_ttl_seconds: 3600 },
    });
    assert.deepEqual(anonymous.json<{ credential: unknown }>().credential, { type: 'none', has_secret: false });

    await createProject(wharf.url, admin, 'team');
    await pushImageAs(wharf.url, 'team/app', 'v1', basicOf(admin));
    const occupied = await api(wharf.url, 'PUT', '/projects/team/proxy-cache', { as: admin, body: settings });
    assertError(occupied, 412, 'DENIED');
    const invalid = await api(wharf.url, 'PUT', '/projects/hub/proxy-cache', {
      as: admin,
      body: { url: 'ftp://example.com' },
    });
    assertError(invalid, 400, 'UNSUPPORTED');
  });

  it('needs pull permission on the proxy project to pull through it', async () => {
    const anonymous = await getManifestAs(wharf.url, 'hub/team/app', 'v1', undefined);
    assertError(anonymous, 401, 'UNAUTHORIZED');
    const stranger = await getManifestAs(wharf.url, 'hub/team/app', 'v1', basicOf(outsider));
    assertError(stranger, 403, 'DENIED');
    assert.equal(forwarder.requests.length, 0, 'refused callers never reach the upstream');

    await addMember(wharf.url, admin, 'hub', dev.username, 'guest');
    const out = join(work, 'pulled-hub');
    await skopeo(['copy', `--src-creds=${credsFlag(dev)}`, `docker://${wharf.host}/hub/team/app:v1`, `oci:${out}:v1`]);
    await assertSameImage(out, 'v1', image);
  });

  it('answers as a mirror for names no project claims, through the proxy project', async () => {
    // `other` is no project here: the request goes to the mirror project, hub, and needs pull there.
    const anonymous = await getManifestAs(wharf.url, 'other/app', 'v1', undefined);
    assertError(anonymous, 401, 'UNAUTHORIZED');
    const pulled = await getManifestAs(wharf.url, 'other/app', 'v1', basicOf(dev));
    assert.equal(pulled.status, 200, pulled.text());
    assert.equal(pulled.headers.get('docker-content-digest'), image.manifest.digest);
    // `team` is a project: its names stay its own.
    const local = await getManifestAs(wharf.url, 'team/app', 'v1', basicOf(admin));
    assert.equal(local.status, 200);
    assert.notEqual(local.headers.get('docker-content-digest'), image.manifest.digest);
  });

  it('refuses pushes into a proxy project and accepts them into ordinary ones', async () => {
    const started = await send(`${wharf.url}/v2/hub/team/mine/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: basicOf(admin) },
    });
    assertError(started, 403, 'DENIED');
    assert.match(started.text(), /project hub is a pull-through cache of .*pushes are refused/);
    await pushImageAs(wharf.url, 'team/other', 'v1', basicOf(admin));
  });

  it('maps names below the project under its remote namespace', async () => {
    await createProject(wharf.url, admin, 'lib', true);
    const saved = await api(wharf.url, 'PUT', '/projects/lib/proxy-cache', {
      as: admin,
      body: { url: forwarder.url, remote_namespace: 'team' },
    });
    assert.equal(saved.status, 200, saved.text());
    const seen = forwarder.requests.length;
    const pulled = await getManifestAs(wharf.url, 'lib/app', 'v1', undefined);
    assert.equal(pulled.status, 200, pulled.text());
    assert.equal(pulled.headers.get('docker-content-digest'), image.manifest.digest);
    assert.ok(forwarder.requests.slice(seen).some((request) => request.url === '/v2/team/app/manifests/v1'));
    await waitForCatalog(wharf, 'lib/app');
  });

  it('logs in to an upstream that asks for credentials, and says so when they are refused', async () => {
    await createProject(wharf.url, admin, 'vault', true);
    const wrong = await api(wharf.url, 'PUT', '/projects/vault/proxy-cache', {
      as: admin,
      body: {
        url: privateUpstream.url,
        credential: { type: 'basic', access_key: puller.username, access_secret: 'not-the-password' },
      },
    });
    assert.equal(wrong.status, 200, wrong.text());
    const refused = await getManifestAs(wharf.url, 'vault/secret/app', 'v1', undefined);
    assertError(refused, 403, 'DENIED');
    assert.match(refused.text(), /the cache's credentials \(user puller\) were refused/);

    const right = await api(wharf.url, 'PUT', '/projects/vault/proxy-cache', {
      as: admin,
      body: {
        url: privateUpstream.url,
        credential: { type: 'basic', access_key: puller.username, access_secret: puller.password },
      },
    });
    assert.equal(right.status, 200, right.text());
    const out = join(work, 'pulled-vault');
    await skopeo(['copy', `docker://${wharf.host}/vault/secret/app:v1`, `oci:${out}:v1`]);
    await assertSameImage(out, 'v1', image);
  });

  it('makes a proxy project ordinary again, keeping what it cached', async () => {
    const removed = await api(wharf.url, 'DELETE', '/projects/lib/proxy-cache', { as: admin });
    assert.equal(removed.status, 204);
    assertError(await api(wharf.url, 'GET', '/projects/lib/proxy-cache', { as: admin }), 404, 'NAME_UNKNOWN');
    const cached = await getManifestAs(wharf.url, 'lib/app', 'v1', undefined);
    assert.equal(cached.status, 200);
    assert.equal(cached.headers.get('docker-content-digest'), image.manifest.digest);
    await pushImageAs(wharf.url, 'lib/mine', 'v1', basicOf(admin));
  });
});

/** A fetched image is stored once all its blobs are: the catalog lists the repository then. */
async function waitForCatalog(wharf: WharfProcess, repo: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const catalog = await send(`${wharf.url}/v2/_catalog`, { headers: { authorization: basicOf(admin) } });
    if (catalog.json<{ repositories: string[] }>().repositories.includes(repo)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`${repo} never appeared in the catalog`);
}
