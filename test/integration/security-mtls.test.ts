import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type ClientCertificateFiles,
  type ServerCertificateFiles,
  writeClientCertificate,
  writeServerCertificate,
} from '../../src/http/tls/certificate-directory.ts';
import { assertSameImage, basicOf, type Credentials, parseChallenge, smallImage } from '../helpers/auth.ts';
import { MediaType, sha256 } from '../helpers/http.ts';
import { buildImageLayout } from '../helpers/images.ts';
import { SkopeoError, skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Client certificates as credentials (`http.tls.clientcas`): a certificate signed by a configured
 * CA names its holder (its common name), who is then authenticated without any password; a
 * connection without one, or with a certificate of another CA, is anonymous and gets 401.
 */
interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

interface Identity {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** One HTTPS request with Node's client, trusting `ca` and presenting the client certificate if any. */
function httpsCall(
  url: string,
  method: string,
  identity: Identity,
  options: { headers?: Record<string, string>; body?: Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(options.body.length);
    const request = httpsRequest(
      url,
      { method, headers, ca: identity.ca, cert: identity.cert, key: identity.key, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

function errorCode(answer: Answer): string | undefined {
  return (JSON.parse(answer.body.toString('utf8')) as { errors: { code: string }[] }).errors[0]?.code;
}

/** POST + PUT each blob, then the manifest, over HTTPS as `identity`; returns every status seen. */
async function pushOver(base: string, repo: string, identity: Identity, headers: Record<string, string> = {}) {
  const image = smallImage();
  const statuses: number[] = [];
  for (const bytes of [image.configBytes, image.layerBytes]) {
    const started = await httpsCall(`${base}/v2/${repo}/blobs/uploads/`, 'POST', identity, { headers });
    statuses.push(started.status);
    if (started.status !== 202) return { image, statuses, last: started };
    const location = new URL(String(started.headers.location), base);
    location.searchParams.set('digest', sha256(bytes));
    const put = await httpsCall(location.href, 'PUT', identity, {
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    statuses.push(put.status);
  }
  const manifest = await httpsCall(`${base}/v2/${repo}/manifests/v1`, 'PUT', identity, {
    headers: { ...headers, 'content-type': MediaType.ociManifest },
    body: image.manifest,
  });
  statuses.push(manifest.status);
  return { image, statuses, last: manifest };
}

interface Pki {
  dir: string;
  server: ServerCertificateFiles;
  alice: ClientCertificateFiles;
  nobody: ClientCertificateFiles;
  /** A certificate naming alice, from a CA the registry does not trust. */
  mallory: ClientCertificateFiles;
  ca: Buffer;
}

async function createPki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-security-mtls-'));
  const server = await writeServerCertificate(join(dir, 'pki'), { hosts: ['localhost', '127.0.0.1'], days: 30 });
  const alice = await writeClientCertificate(server.dir, join(dir, 'alice'), { name: 'alice', days: 30 });
  const nobody = await writeClientCertificate(server.dir, join(dir, 'nobody'), { name: 'nobody', days: 30 });
  const otherCa = await writeServerCertificate(join(dir, 'other-pki'), { hosts: ['elsewhere.test'], days: 30 });
  const mallory = await writeClientCertificate(otherCa.dir, join(dir, 'mallory'), { name: 'alice', days: 30 });
  return { dir, server, alice, nobody, mallory, ca: await readFile(server.caCertificate) };
}

async function clientIdentity(pki: Pki, files: ClientCertificateFiles): Promise<Identity> {
  return { ca: pki.ca, cert: await readFile(files.certificate), key: await readFile(files.key) };
}

function tlsEnv(pki: Pki): Record<string, string> {
  return {
    REGISTRY_HTTP_TLS_CERTIFICATE: pki.server.serverCertificate,
    REGISTRY_HTTP_TLS_KEY: pki.server.serverKey,
    REGISTRY_HTTP_TLS_CLIENTCAS: pki.server.caCertificate,
  };
}

describe('client certificates without passwords (http.tls.clientcas only)', () => {
  let pki: Pki;
  let wharf: WharfProcess;

  before(async () => {
    pki = await createPki();
    wharf = await startWharf({ env: tlsEnv(pki) });
  });

  after(async () => {
    await wharf?.close();
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  it('authenticates a verified client certificate: /v2/ is 200 and a push is allowed', async () => {
    const alice = await clientIdentity(pki, pki.alice);
    const base = await httpsCall(`${wharf.url}/v2/`, 'GET', alice);
    assert.equal(base.status, 200);
    const pushed = await pushOver(wharf.url, 'certs/app', alice);
    assert.deepEqual(pushed.statuses, [202, 201, 202, 201, 201], pushed.last.body.toString());
    const pulled = await httpsCall(`${wharf.url}/v2/certs/app/manifests/v1`, 'GET', alice, {
      headers: { accept: MediaType.ociManifest },
    });
    assert.equal(pulled.status, 200);
    assert.ok(pulled.body.equals(pushed.image.manifest));
  });

  it('answers a connection without a client certificate with 401 and a challenge', async () => {
    const anonymous = { ca: pki.ca };
    const base = await httpsCall(`${wharf.url}/v2/`, 'GET', anonymous);
    assert.equal(base.status, 401);
    assert.equal(errorCode(base), 'UNAUTHORIZED');
    assert.equal(parseChallenge(String(base.headers['www-authenticate'])).scheme, 'basic');
    const pushed = await pushOver(wharf.url, 'certs/anonymous', anonymous);
    assert.deepEqual(pushed.statuses, [401]);
    const pull = await httpsCall(`${wharf.url}/v2/certs/app/manifests/v1`, 'GET', anonymous);
    assert.equal(pull.status, 401);
  });

  it('treats a certificate of another CA, naming the same user, as no certificate (401)', async () => {
    const mallory = await clientIdentity(pki, pki.mallory);
    assert.equal((await httpsCall(`${wharf.url}/v2/`, 'GET', mallory)).status, 401);
    assert.deepEqual((await pushOver(wharf.url, 'certs/mallory', mallory)).statuses, [401]);
  });

  it('takes a skopeo push from a client certificate, and refuses skopeo without one', async () => {
    const layout = join(pki.dir, 'layout');
    const image = await buildImageLayout(layout, { tag: 'v1', layers: [{ files: { 'etc/motd': 'mutual TLS\n' } }] });
    const reference = `docker://${wharf.host}/certs/skopeo:v1`;
    await skopeo(['copy', `oci:${layout}:v1`, reference], { tls: { certDir: pki.alice.dir } });
    const pulled = join(pki.dir, 'pulled');
    await skopeo(['copy', reference, `oci:${pulled}:v1`], { tls: { certDir: pki.alice.dir } });
    await assertSameImage(pulled, 'v1', image);

    const caOnly = join(pki.dir, 'ca-only');
    await mkdir(caOnly);
    await copyFile(pki.server.caCertificate, join(caOnly, 'ca.crt'));
    const error = await skopeo(['copy', `oci:${layout}:v1`, `docker://${wharf.host}/certs/skopeo:v2`], {
      tls: { certDir: caOnly },
    }).then(
      () => assert.fail('skopeo pushed without a client certificate'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof SkopeoError);
    assert.match(error.stderr, /unauthorized: authentication required/);
  });
});

describe('client certificates in projects mode', () => {
  const admin: Credentials = { username: 'admin', password: 'admin-password-for-mtls' };
  let pki: Pki;
  let wharf: WharfProcess;

  before(async () => {
    pki = await createPki();
    wharf = await startWharf({
      env: { ...tlsEnv(pki), WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    const adminIdentity = { ca: pki.ca };
    const asAdmin = { authorization: basicOf(admin) };
    const call = (method: string, path: string, body: unknown) =>
      httpsCall(`${wharf.url}/api/v1${path}`, method, adminIdentity, {
        headers: { ...asAdmin, 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(body)),
      });
    assert.equal((await call('POST', '/projects', { name: 'team', public: false })).status, 201);
    assert.equal((await call('POST', '/projects', { name: 'other', public: false })).status, 201);
    assert.equal((await call('POST', '/users', { username: 'alice', password: 'alice-password-1' })).status, 201);
    const member = await call('POST', '/projects/team/members', {
      member_kind: 'user',
      member_name: 'alice',
      role: 'developer',
    });
    assert.equal(member.status, 201);
  });

  after(async () => {
    await wharf?.close();
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  it('maps a certificate to the local user it names, with that user’s roles', async () => {
    const alice = await clientIdentity(pki, pki.alice);
    const pushed = await pushOver(wharf.url, 'team/app', alice);
    assert.deepEqual(pushed.statuses, [202, 201, 202, 201, 201], pushed.last.body.toString());
    const outside = await pushOver(wharf.url, 'other/app', alice);
    assert.deepEqual(outside.statuses, [403], outside.last.body.toString());
    assert.equal(errorCode(outside.last), 'DENIED');
  });

  it('treats a certificate naming no local user as anonymous (401 with the Bearer challenge)', async () => {
    const nobody = await clientIdentity(pki, pki.nobody);
    const pushed = await pushOver(wharf.url, 'team/nobody', nobody);
    assert.deepEqual(pushed.statuses, [401]);
    const challenge = parseChallenge(String(pushed.last.headers['www-authenticate']));
    assert.equal(challenge.scheme, 'bearer');
    assert.equal(challenge.params.realm, `${wharf.url}/service/token`);
  });
});
