import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type ConnectionOptions, connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  type ClientCertificateFiles,
  type ServerCertificateFiles,
  writeClientCertificate,
  writeServerCertificate,
} from '../../src/http/tls/certificate-directory.ts';
import { verifiedClientCertificate } from '../../src/http/tls/client-certificate.ts';
import { registerTlsHeaders } from '../../src/http/tls/security-headers.ts';
import type { TlsSettings } from '../../src/http/tls/tls-options.ts';
import { createTlsServerFactory, type TlsServerFactory } from '../../src/http/tls/tls-server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { buildImageLayout } from '../helpers/images.ts';
import { SkopeoError, skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

interface TlsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The certificate the server presented on this request's connection. */
  peer: PeerCertificate;
  reusedSocket: boolean;
}

interface ClientIdentity {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  agent?: HttpsAgent;
}

/** One HTTPS request with Node's client, verifying the server against `ca` (or the system roots). */
function httpsGet(url: string, identity: ClientIdentity = {}): Promise<TlsResult> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      url,
      { ca: identity.ca, cert: identity.cert, key: identity.key, agent: identity.agent ?? false },
      (response) => {
        const peer = (response.socket as TLSSocket).getPeerCertificate();
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            peer,
            reusedSocket: request.reusedSocket,
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

async function expectTlsRejection(promise: Promise<unknown>, codes: readonly string[]): Promise<string> {
  const error = await promise.then(
    () => assert.fail('the request succeeded'),
    (caught: unknown) => caught as NodeJS.ErrnoException,
  );
  assert.ok(
    codes.includes(error.code ?? ''),
    `expected one of ${codes.join(', ')}, got ${error.code}: ${error.message}`,
  );
  return error.code ?? '';
}

/** Resolves with the negotiated protocol, or rejects with the handshake error. */
function handshake(port: number, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...options }, () => {
      const protocol = socket.getProtocol() ?? '';
      socket.end();
      resolve(protocol);
    });
    socket.on('error', reject);
  });
}

/** What Node says of a chain ending in a CA it does not know (the server may or may not send the root). */
const untrusted = ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN'];

/** Every TLS 1.0/1.1 cipher, allowed client-side: OpenSSL 3 would otherwise refuse before the server can. */
const legacyClient: ConnectionOptions = {
  ciphers: 'DEFAULT@SECLEVEL=0',
  minVersion: 'TLSv1',
  rejectUnauthorized: false,
};

const sans = (peer: PeerCertificate) => peer.subjectaltname ?? '';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** The pieces a test works with: CA + server certificate, a client of that CA, and a stranger's client. */
interface Pki {
  dir: string;
  server: ServerCertificateFiles;
  alice: ClientCertificateFiles;
  mallory: ClientCertificateFiles;
  ca: Buffer;
  read(path: string): Promise<Buffer>;
}

async function createPki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-tls-'));
  const server = await writeServerCertificate(join(dir, 'pki'), { hosts: ['localhost', '127.0.0.1'], days: 30 });
  const alice = await writeClientCertificate(server.dir, join(dir, 'alice'), { name: 'alice', days: 30 });
  const otherCa = await writeServerCertificate(join(dir, 'other-pki'), { hosts: ['elsewhere.test'], days: 30 });
  const mallory = await writeClientCertificate(otherCa.dir, join(dir, 'mallory'), { name: 'alice', days: 30 });
  return { dir, server, alice, mallory, ca: await readFile(server.caCertificate), read: (path) => readFile(path) };
}

function settingsFor(pki: Pki, overrides: Partial<TlsSettings> = {}): TlsSettings {
  return {
    certificate: pki.server.serverCertificate,
    key: pki.server.serverKey,
    clientcas: [pki.server.caCertificate],
    minimumtls: 'tls1.2',
    ...overrides,
  };
}

/** A JSON logger whose lines the test reads. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', formatter: 'json', fields: {} }, sink), lines };
}

/** The factory under a Fastify app of its own, answering who the verified client certificate names. */
async function serveWithFactory(
  settings: TlsSettings,
  timing: { debounceMs: number; pollIntervalMs: number },
): Promise<{
  app: FastifyInstance;
  tls: TlsServerFactory;
  url: string;
  port: number;
  log: ReturnType<typeof capturingLogger>;
}> {
  const log = capturingLogger();
  const tls = await createTlsServerFactory(settings, log.logger, timing);
  const app = Fastify({ serverFactory: tls.serverFactory, keepAliveTimeout: 75_000 });
  registerTlsHeaders(app);
  app.get('/whoami', async (request) => ({
    client: verifiedClientCertificate(request.raw.socket)?.subjectCommonName ?? null,
  }));
  app.get('/own-hsts', async (_request, reply) => reply.header('Strict-Transport-Security', 'max-age=0').send('ok'));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { app, tls, url: `https://127.0.0.1:${address.port}`, port: address.port, log };
}

describe('TLS server factory', () => {
  let pki: Pki;
  let served: Awaited<ReturnType<typeof serveWithFactory>>;

  before(async () => {
    pki = await createPki();
    // Slow watchers: these tests change no files; the reload tests below run their own servers.
    served = await serveWithFactory(settingsFor(pki), { debounceMs: 60_000, pollIntervalMs: 60_000 });
  });

  after(async () => {
    served?.tls.close();
    await served?.app.close();
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  it('serves a client that trusts the CA, with HSTS and nosniff', async () => {
    const result = await httpsGet(`${served.url}/whoami`, { ca: pki.ca });
    assert.equal(result.status, 200);
    assert.equal(result.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
    assert.equal(result.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(JSON.parse(result.body), { client: null });
    assert.match(sans(result.peer), /IP Address:127\.0\.0\.1/);
  });

  it('leaves a Strict-Transport-Security header set by the application alone', async () => {
    const result = await httpsGet(`${served.url}/own-hsts`, { ca: pki.ca });
    assert.equal(result.headers['strict-transport-security'], 'max-age=0');
  });

  it('is refused by a client that does not trust the CA', async () => {
    await expectTlsRejection(httpsGet(`${served.url}/whoami`), untrusted);
  });

  it('is refused by a client checking another name than the certificate holds', async () => {
    const other = httpsRequestTo(served.port, 'registry.invalid', pki.ca);
    await expectTlsRejection(other, ['ERR_TLS_CERT_ALTNAME_INVALID']);
  });

  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    it(`refuses ${version}`, async () => {
      await expectTlsRejection(handshake(served.port, { ...legacyClient, maxVersion: version }), [
        'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
      ]);
    });
  }

  it('negotiates TLS 1.2 and 1.3', async () => {
    assert.equal(
      await handshake(served.port, { ca: pki.ca, maxVersion: 'TLSv1.2', servername: 'localhost' }),
      'TLSv1.2',
    );
    assert.equal(await handshake(served.port, { ca: pki.ca, servername: 'localhost' }), 'TLSv1.3');
  });

  it('names the client of a certificate signed by http.tls.clientcas', async () => {
    const result = await httpsGet(`${served.url}/whoami`, {
      ca: pki.ca,
      cert: await pki.read(pki.alice.certificate),
      key: await pki.read(pki.alice.key),
    });
    assert.equal(result.status, 200);
    assert.deepEqual(JSON.parse(result.body), { client: 'alice' });
  });

  it('names nobody for a certificate of another CA, and still serves the request', async () => {
    const result = await httpsGet(`${served.url}/whoami`, {
      ca: pki.ca,
      cert: await pki.read(pki.mallory.certificate),
      key: await pki.read(pki.mallory.key),
    });
    assert.equal(result.status, 200);
    assert.deepEqual(JSON.parse(result.body), { client: null });
  });
});

describe('TLS minimum version setting', () => {
  it('accepts TLS 1.1 when http.tls.minimumtls is tls1.0, so the default refusal is the server’s', async () => {
    const pki = await createPki();
    const served = await serveWithFactory(settingsFor(pki, { minimumtls: 'tls1.0' }), {
      debounceMs: 60_000,
      pollIntervalMs: 60_000,
    });
    try {
      assert.equal(await handshake(served.port, { ...legacyClient, maxVersion: 'TLSv1.1' }), 'TLSv1.1');
    } finally {
      served.tls.close();
      await served.app.close();
      await rm(pki.dir, { recursive: true, force: true });
    }
  });

  it('refuses TLS 1.2 when http.tls.minimumtls is tls1.3', async () => {
    const pki = await createPki();
    const served = await serveWithFactory(settingsFor(pki, { minimumtls: 'tls1.3' }), {
      debounceMs: 60_000,
      pollIntervalMs: 60_000,
    });
    try {
      await expectTlsRejection(handshake(served.port, { ca: pki.ca, maxVersion: 'TLSv1.2', servername: 'localhost' }), [
        'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
      ]);
    } finally {
      served.tls.close();
      await served.app.close();
      await rm(pki.dir, { recursive: true, force: true });
    }
  });
});

function httpsRequestTo(port: number, servername: string, ca: Buffer): Promise<TlsResult> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      { host: '127.0.0.1', port, path: '/whoami', servername, headers: { host: servername }, ca, agent: false },
      (response) => {
        response.resume();
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: '',
            peer: (response.socket as TLSSocket).getPeerCertificate(),
            reusedSocket: false,
          }),
        );
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('certificate reload', () => {
  let pki: Pki;

  before(async () => {
    pki = await createPki();
  });

  after(async () => {
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  it('serves a replaced certificate to new connections and keeps open ones (file watch)', async () => {
    const served = await serveWithFactory(settingsFor(pki), { debounceMs: 50, pollIntervalMs: 100 });
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: pki.ca });
    try {
      const first = await httpsGet(`${served.url}/whoami`, { agent });
      assert.equal(first.status, 200);
      assert.doesNotMatch(sans(first.peer), /reloaded\.test/);

      // writeServerCertificate replaces the files by rename, like an editor or cert-manager.
      await writeServerCertificate(pki.server.dir, { hosts: ['reloaded.test', '127.0.0.1'], days: 30 });
      const fresh = await waitFor('the new certificate on a new connection', async () => {
        const result = await httpsGet(`${served.url}/whoami`, { ca: pki.ca });
        return /DNS:reloaded\.test/.test(sans(result.peer)) ? result : undefined;
      });
      assert.equal(fresh.status, 200);

      const again = await httpsGet(`${served.url}/whoami`, { agent });
      assert.equal(again.reusedSocket, true, 'the keep-alive connection was dropped');
      assert.equal(again.status, 200);
      assert.equal(again.peer.fingerprint256, first.peer.fingerprint256);
      assert.ok(served.log.lines.some((line) => /^TLS certificate reloaded/.test(String(line.msg))));
    } finally {
      agent.destroy();
      served.tls.close();
      await served.app.close();
    }
  });

  it('reloads on SIGHUP', async () => {
    // Watchers too slow to matter: only the signal can make this reload happen in time.
    const served = await serveWithFactory(settingsFor(pki), { debounceMs: 600_000, pollIntervalMs: 600_000 });
    try {
      await writeServerCertificate(pki.server.dir, { hosts: ['after-sighup.test', '127.0.0.1'], days: 30 });
      const before = await httpsGet(`${served.url}/whoami`, { ca: pki.ca });
      assert.doesNotMatch(sans(before.peer), /after-sighup\.test/);
      process.kill(process.pid, 'SIGHUP');
      await waitFor('the certificate after SIGHUP', async () => {
        const result = await httpsGet(`${served.url}/whoami`, { ca: pki.ca });
        return /DNS:after-sighup\.test/.test(sans(result.peer)) ? result : undefined;
      });
    } finally {
      served.tls.close();
      await served.app.close();
    }
  });

  it('keeps the current certificate when the new files are unusable, and logs an error', async () => {
    const served = await serveWithFactory(settingsFor(pki), { debounceMs: 600_000, pollIntervalMs: 600_000 });
    const goodCertificate = await pki.read(pki.server.serverCertificate);
    try {
      const before = await httpsGet(`${served.url}/whoami`, { ca: pki.ca });
      await writeFile(pki.server.serverCertificate, '-----BEGIN CERTIFICATE-----\nnot a certificate\n');
      assert.equal(await served.tls.reloader.reload('test'), 'failed');
      const afterGarbage = await httpsGet(`${served.url}/whoami`, { ca: pki.ca });
      assert.equal(afterGarbage.peer.fingerprint256, before.peer.fingerprint256);

      // A certificate whose key is not the configured one: the half-done state of a non-atomic update.
      const other = await writeServerCertificate(join(pki.dir, 'mismatch'), { hosts: ['127.0.0.1'], days: 30 });
      await writeFile(pki.server.serverCertificate, await readFile(other.serverCertificate));
      assert.equal(await served.tls.reloader.reload('test'), 'failed');
      const afterMismatch = await httpsGet(`${served.url}/whoami`, { ca: pki.ca });
      assert.equal(afterMismatch.peer.fingerprint256, before.peer.fingerprint256);

      const errors = served.log.lines.filter((line) => line.level === 'error');
      assert.equal(errors.length, 2);
      assert.match(String(errors[0]?.msg), /keeps serving the current certificate/);

      await writeFile(pki.server.serverCertificate, goodCertificate);
      assert.equal(await served.tls.reloader.reload('test'), 'unchanged');
    } finally {
      await writeFile(pki.server.serverCertificate, goodCertificate);
      served.tls.close();
      await served.app.close();
    }
  });
});

describe('wharf serve with http.tls', () => {
  let pki: Pki;
  let wharf: WharfProcess;
  let layout: string;

  before(async () => {
    pki = await createPki();
    wharf = await startWharf({
      env: {
        REGISTRY_HTTP_TLS_CERTIFICATE: pki.server.serverCertificate,
        REGISTRY_HTTP_TLS_KEY: pki.server.serverKey,
      },
    });
    layout = join(pki.dir, 'layout');
    await buildImageLayout(layout, { tag: 'v1', layers: [{ files: { 'hello.txt': 'hello over TLS\n' } }] });
  });

  after(async () => {
    await wharf?.close();
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  it('prints an https URL and answers /v2/ to a client trusting the CA', async () => {
    assert.match(wharf.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const result = await httpsGet(`${wharf.url}/v2/`, { ca: pki.ca });
    assert.equal(result.status, 200);
    assert.equal(result.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.equal(result.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
    assert.equal(result.headers['x-content-type-options'], 'nosniff');
  });

  it('is refused by a client that does not trust the CA', async () => {
    await expectTlsRejection(httpsGet(`${wharf.url}/v2/`), untrusted);
  });

  it('refuses TLS 1.1', async () => {
    const port = Number(new URL(wharf.url).port);
    await expectTlsRejection(handshake(port, { ...legacyClient, maxVersion: 'TLSv1.1' }), [
      'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    ]);
  });

  it('takes a skopeo copy whose cert dir holds the CA', async () => {
    const certDir = join(pki.dir, 'skopeo-certs');
    await mkdir(certDir);
    await copyFile(pki.server.caCertificate, join(certDir, 'ca.crt'));
    await skopeo(['copy', `oci:${layout}:v1`, `docker://${wharf.host}/tls/hello:v1`], { tls: { certDir } });
    const { stdout } = await skopeo(['inspect', '--raw', `docker://${wharf.host}/tls/hello:v1`], { tls: { certDir } });
    assert.equal(JSON.parse(stdout).schemaVersion, 2);
  });

  it('takes a skopeo copy presenting a client certificate (mTLS cert dir)', async () => {
    await skopeo(['copy', `oci:${layout}:v1`, `docker://${wharf.host}/tls/hello:mtls`], {
      tls: { certDir: pki.alice.dir },
    });
  });

  it('fails a skopeo copy without the CA with an x509 error', async () => {
    const error = await skopeo(['copy', `oci:${layout}:v1`, `docker://${wharf.host}/tls/hello:untrusted`], {
      tls: {},
    }).then(
      () => assert.fail('skopeo copy succeeded without trusting the CA'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof SkopeoError);
    assert.match(error.stderr, /x509: certificate signed by unknown authority/);
  });

  it('serves a certificate replaced on disk to new connections', async () => {
    await writeServerCertificate(pki.server.dir, { hosts: ['replaced.test', '127.0.0.1'], days: 30 });
    const result = await waitFor('the replaced certificate', async () => {
      const response = await httpsGet(`${wharf.url}/v2/`, { ca: pki.ca });
      return /DNS:replaced\.test/.test(sans(response.peer)) ? response : undefined;
    });
    assert.equal(result.status, 200);
  });
});
