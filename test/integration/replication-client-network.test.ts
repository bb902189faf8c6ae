import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { writeServerCertificate } from '../../src/http/tls/certificate-directory.ts';
import type { Digest } from '../../src/oci/digest.ts';
import {
  DigestMismatchError,
  isRegistryClientError,
  RegistryClient,
  type RegistryClientError,
} from '../../src/replication/client/index.ts';

/**
 * The client's behaviour on the network, against small HTTP servers written here that play the
 * registry's part exactly as the case needs: a connection cut midway through a blob, 429 with
 * Retry-After, 503s, a token service, a redirect to another origin, a proxy, a private CA.
 */

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  at: number;
}

type Handler = (request: IncomingMessage, response: ServerResponse, count: number) => void;

interface Peer {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

async function listen(server: Server, scheme: 'http' | 'https', requests: Recorded[]): Promise<Peer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    url: `${scheme}://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function peer(handler: Handler): Promise<Peer> {
  const requests: Recorded[] = [];
  const server = createHttpServer((request, response) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, at: Date.now() });
    handler(request, response, requests.length);
  });
  return listen(server, 'http', requests);
}

function sha256(bytes: Buffer): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

async function read(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function rejection(promise: Promise<unknown>): Promise<RegistryClientError> {
  const error = await promise.then(
    () => assert.fail('the call succeeded'),
    (caught: unknown) => caught,
  );
  assert.ok(isRegistryClientError(error), `not a RegistryClientError: ${String(error)}`);
  return error;
}

const fast = { attempts: 4, initialDelayMs: 20, maxDelayMs: 100 };
const manifestType = 'application/vnd.oci.image.manifest.v1+json';

describe('registry client on the network', () => {
  const blob = randomBytes(256 * 1024);
  const digest = sha256(blob);
  const half = 100_000;

  it('resumes a blob download cut midway with a Range request from the last byte received', async () => {
    const server = await peer((request, response, count) => {
      if (count === 1) {
        response.writeHead(200, { 'content-length': String(blob.length), 'content-type': 'application/octet-stream' });
        response.write(blob.subarray(0, half), () => response.socket?.end());
        return;
      }
      const start = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1]);
      response.writeHead(206, {
        'content-length': String(blob.length - start),
        'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}`,
      });
      response.end(blob.subarray(start));
    });
    try {
      const client = new RegistryClient({ registry: server.url, retry: fast });
      const resumedAt: number[] = [];
      const download = await client.openBlob(
        'team/app',
        { digest, size: blob.length },
        { onResume: (offset) => resumedAt.push(offset) },
      );
      assert.deepEqual(await read(download.content), blob);
      assert.equal(server.requests.length, 2);
      assert.equal(server.requests[0]?.headers.range, undefined);
      assert.equal(server.requests[1]?.headers.range, `bytes=${half}-`);
      assert.deepEqual(resumedAt, [half]);
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('gives up on a download that stalls past the body timeout, and resumes it', async () => {
    const stalled: ServerResponse[] = [];
    const server = await peer((request, response, count) => {
      if (count === 1) {
        response.writeHead(200, { 'content-length': String(blob.length) });
        response.write(blob.subarray(0, half));
        stalled.push(response); // and nothing more: the connection stays open, silent
        return;
      }
      const start = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1]);
      response.writeHead(206, {
        'content-length': String(blob.length - start),
        'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}`,
      });
      response.end(blob.subarray(start));
    });
    try {
      const client = new RegistryClient({ registry: server.url, retry: fast, timeouts: { bodyMs: 300 } });
      const started = Date.now();
      const download = await client.openBlob('team/app', { digest, size: blob.length });
      assert.deepEqual(await read(download.content), blob);
      assert.ok(Date.now() - started >= 300, 'resumed before the body timeout');
      assert.equal(server.requests[1]?.headers.range, `bytes=${half}-`);
      await client.close();
    } finally {
      for (const response of stalled) response.destroy();
      await server.close();
    }
  });

  it('resumes from a registry that ignores Range by skipping what it already passed on', async () => {
    const server = await peer((_request, response, count) => {
      response.writeHead(200, { 'content-length': String(blob.length) });
      if (count === 1) response.write(blob.subarray(0, half), () => response.socket?.end());
      else response.end(blob);
    });
    try {
      const client = new RegistryClient({ registry: server.url, retry: fast });
      const download = await client.openBlob('team/app', { digest, size: blob.length });
      assert.deepEqual(await read(download.content), blob);
      assert.equal(server.requests[1]?.headers.range, `bytes=${half}-`);
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('fails the stream with DigestMismatchError when the bytes are not the digest, instead of ending it', async () => {
    const wrong = Buffer.from(blob);
    wrong[1000] = (wrong[1000] ?? 0) ^ 0xff;
    const server = await peer((_request, response) => {
      response.writeHead(200, { 'content-length': String(wrong.length) });
      response.end(wrong);
    });
    try {
      const client = new RegistryClient({ registry: server.url, retry: fast });
      const download = await client.openBlob('team/app', { digest, size: blob.length });
      const error = await read(download.content).then(
        () => assert.fail('the stream ended'),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof DigestMismatchError, String(error));
      assert.equal(error.expected, digest);
      assert.equal(error.actual, sha256(wrong));
      assert.equal(error.code, 'DIGEST_INVALID');
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('waits as long as Retry-After says on 429, then retries', async () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: manifestType, config: {}, layers: [] }));
    const server = await peer((_request, response, count) => {
      if (count === 1) {
        response.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
        response.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
        return;
      }
      response.writeHead(200, { 'content-type': manifestType, 'docker-content-digest': sha256(manifest) });
      response.end(manifest);
    });
    try {
      const client = new RegistryClient({ registry: server.url, retry: fast });
      const fetched = await client.getManifest('team/app', 'v1');
      assert.equal(fetched.digest, sha256(manifest));
      assert.equal(server.requests.length, 2);
      const waited = (server.requests[1]?.at ?? 0) - (server.requests[0]?.at ?? 0);
      assert.ok(waited >= 950, `retried after ${waited} ms, Retry-After said 1 s`);
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('fails at once with the wait when Retry-After asks for more than the client will wait', async () => {
    const server = await peer((_request, response) => {
      response.writeHead(429, { 'retry-after': '3600' });
      response.end();
    });
    try {
      const client = new RegistryClient({ registry: server.url, retry: { ...fast, maxRetryAfterMs: 10_000 } });
      const error = await rejection(client.getManifest('team/app', 'v1'));
      assert.equal(error.status, 429);
      assert.equal(error.retryable, true);
      assert.equal(error.retryAfterMs, 3_600_000);
      assert.equal(server.requests.length, 1);
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('retries 503 with backoff and gives up after the configured attempts with the last error', async () => {
    const server = await peer((_request, response) => {
      response.writeHead(503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'restarting' }] }));
    });
    try {
      const client = new RegistryClient({ registry: server.url, retry: fast });
      const error = await rejection(client.statBlob('team/app', digest));
      assert.equal(error.status, 503);
      assert.equal(server.requests.length, 4);
      const error2 = await rejection(client.getManifest('team/app', 'v1'));
      assert.equal(error2.code, 'UNAVAILABLE');
      assert.match(error2.message, /503 UNAVAILABLE: restarting/);
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('retries a refused connection and reports it without a status when the registry stays away', async () => {
    const server = await peer(() => {});
    const url = server.url;
    await server.close();
    const client = new RegistryClient({ registry: url, retry: { attempts: 2, initialDelayMs: 10 } });
    const error = await rejection(client.ping());
    assert.equal(error.status, undefined);
    assert.equal(error.retryable, true);
    assert.match(error.message, /ECONNREFUSED/);
    await client.close();
  });

  it('fetches a Bearer token for the scope the challenge names, and a new one when the registry refuses it', async () => {
    let issued = 0;
    let revoked = '';
    const tokens = await peer((request, response) => {
      issued += 1;
      const url = new URL(request.url ?? '', 'http://x');
      assert.equal(request.headers.authorization, `Basic ${Buffer.from('ci:secret').toString('base64')}`);
      assert.equal(url.searchParams.get('service'), 'peer');
      assert.deepEqual(url.searchParams.getAll('scope'), ['repository:team/app:pull']);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ token: `token-${issued}`, expires_in: 300 }));
    });
    const registry = await peer((request, response) => {
      const token = request.headers.authorization?.replace(/^Bearer /, '');
      if (token === undefined || token === revoked) {
        response.writeHead(401, {
          'www-authenticate': `Bearer realm="${tokens.url}/token",service="peer",scope="repository:team/app:pull"`,
          'content-type': 'application/json',
        });
        response.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'token required' }] }));
        return;
      }
      response.writeHead(404);
      response.end();
    });
    try {
      const client = new RegistryClient({
        registry: registry.url,
        credentials: { username: 'ci', password: 'secret' },
      });
      assert.equal(await client.statBlob('team/app', digest), undefined);
      assert.equal(await client.statBlob('team/app', digest), undefined);
      assert.equal(issued, 1, 'the token was not reused');
      assert.deepEqual(
        registry.requests.map((request) => request.headers.authorization),
        [undefined, 'Bearer token-1', 'Bearer token-1'],
      );
      revoked = 'token-1';
      assert.equal(await client.statBlob('team/app', digest), undefined);
      assert.equal(issued, 2);
      assert.equal(registry.requests.at(-1)?.headers.authorization, 'Bearer token-2');
      await client.close();
    } finally {
      await registry.close();
      await tokens.close();
    }
  });

  it('renews a token shortly before it expires, and redeems an identity token with a POST', async () => {
    const grants: string[] = [];
    const tokens = await peer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        const form = new URLSearchParams(body);
        assert.equal(request.method, 'POST');
        assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
        grants.push(
          `${form.get('grant_type')} ${form.get('refresh_token')} ${form.get('scope')} ${form.get('service')}`,
        );
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ access_token: `access-${grants.length}`, expires_in: 1 }));
      });
    });
    const registry = await peer((request, response) => {
      if (request.headers.authorization === undefined) {
        response.writeHead(401, { 'www-authenticate': `Bearer realm="${tokens.url}/token",service="peer"` });
        response.end();
        return;
      }
      response.writeHead(404);
      response.end();
    });
    try {
      const client = new RegistryClient({ registry: registry.url, credentials: { identityToken: 'refresh-me' } });
      await client.statBlob('team/app', digest);
      await client.statBlob('team/app', digest);
      assert.equal(grants.length, 1);
      // A one-second token is renewed after 800 ms, before it can expire in flight.
      await new Promise((resolve) => setTimeout(resolve, 850));
      await client.statBlob('team/app', digest);
      assert.deepEqual(grants, [
        'refresh_token refresh-me repository:team/app:pull peer',
        'refresh_token refresh-me repository:team/app:pull peer',
      ]);
      assert.deepEqual(
        registry.requests.map((request) => request.headers.authorization),
        [undefined, 'Bearer access-1', 'Bearer access-1', 'Bearer access-2'],
      );
      await client.close();
    } finally {
      await registry.close();
      await tokens.close();
    }
  });

  it('uploads in PATCH chunks of at least OCI-Chunk-Min-Length, then closes with a PUT naming the digest', async () => {
    const received: Buffer[] = [];
    const registry = await peer((request, response) => {
      const parts: Buffer[] = [];
      request.on('data', (chunk: Buffer) => parts.push(chunk));
      request.on('end', () => {
        const url = new URL(request.url ?? '', 'http://x');
        if (request.method === 'POST') {
          response.writeHead(202, {
            location: '/v2/team/app/blobs/uploads/1?state=0',
            'oci-chunk-min-length': '100000',
          });
        } else if (request.method === 'PATCH') {
          received.push(Buffer.concat(parts));
          const end = received.reduce((sum, part) => sum + part.length, 0) - 1;
          response.writeHead(202, { location: `/v2/team/app/blobs/uploads/1?state=${end + 1}`, range: `0-${end}` });
        } else {
          assert.equal(request.method, 'PUT');
          assert.equal(url.searchParams.get('digest'), digest);
          assert.equal(Buffer.concat(parts).length, 0);
          response.writeHead(201, { 'docker-content-digest': digest, location: `/v2/team/app/blobs/${digest}` });
        }
        response.end();
      });
    });
    try {
      const client = new RegistryClient({ registry: registry.url, chunkSize: 64 * 1024 });
      await client.pushBlob(
        'team/app',
        { digest, size: blob.length },
        Readable.from([blob.subarray(0, 5000), blob.subarray(5000)]),
      );
      assert.deepEqual(
        received.map((part) => part.length),
        [100_000, 100_000, blob.length - 200_000],
      );
      assert.deepEqual(Buffer.concat(received), blob);
      assert.deepEqual(
        registry.requests
          .filter((request) => request.method === 'PATCH')
          .map((request) => request.headers['content-range']),
        ['0-99999', '100000-199999', `200000-${blob.length - 1}`],
      );
      assert.equal(
        registry.requests.at(-1)?.url,
        `/v2/team/app/blobs/uploads/1?state=${blob.length}&digest=${encodeURIComponent(digest)}`,
      );
      await client.close();
    } finally {
      await registry.close();
    }
  });

  it('answers a Basic challenge with the credentials, then sends them up front', async () => {
    const expected = `Basic ${Buffer.from('ci:secret').toString('base64')}`;
    const registry = await peer((request, response) => {
      if (request.headers.authorization !== expected) {
        response.writeHead(401, { 'www-authenticate': 'Basic realm="peer"' });
        response.end();
        return;
      }
      response.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' });
      response.end('{}');
    });
    try {
      const client = new RegistryClient({
        registry: registry.url,
        credentials: { username: 'ci', password: 'secret' },
      });
      assert.equal((await client.ping()).authScheme, 'basic');
      await client.ping();
      assert.deepEqual(
        registry.requests.map((request) => request.headers.authorization),
        [undefined, expected, expected],
      );
      await client.close();
    } finally {
      await registry.close();
    }
  });

  it('follows a blob redirect to another origin without the registry credentials', async () => {
    const storage = await peer((_request, response) => {
      response.writeHead(200, { 'content-length': String(blob.length) });
      response.end(blob);
    });
    const registry = await peer((_request, response) => {
      response.writeHead(307, { location: `${storage.url}/bucket/object?signature=abc` });
      response.end();
    });
    try {
      const client = new RegistryClient({ registry: registry.url, credentials: { registryToken: 'secret-token' } });
      const download = await client.openBlob('team/app', { digest, size: blob.length });
      assert.deepEqual(await read(download.content), blob);
      assert.equal(registry.requests[0]?.headers.authorization, 'Bearer secret-token');
      assert.equal(storage.requests[0]?.url, '/bucket/object?signature=abc');
      assert.equal(storage.requests[0]?.headers.authorization, undefined);
      await client.close();
    } finally {
      await storage.close();
      await registry.close();
    }
  });

  it('goes through an HTTP proxy (CONNECT) when told to', async () => {
    const registry = await peer((_request, response) => {
      response.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' });
      response.end('{}');
    });
    const tunnels: string[] = [];
    const proxyServer = createHttpServer();
    proxyServer.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => {
      tunnels.push(request.url ?? '');
      const [host, port] = (request.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    const proxy = await listen(proxyServer, 'http', []);
    try {
      const client = new RegistryClient({ registry: registry.url, proxy: { url: proxy.url } });
      assert.equal((await client.ping()).apiVersion, 'registry/2.0');
      assert.deepEqual(tunnels, [new URL(registry.url).host]);
      await client.close();
      const direct = new RegistryClient({ registry: registry.url, proxy: false });
      await direct.ping();
      assert.equal(tunnels.length, 1);
      await direct.close();
    } finally {
      await proxy.close();
      await registry.close();
    }
  });

  describe('TLS', () => {
    let work: string;
    let registry: Peer;
    let ca: Buffer;

    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'wharf-client-tls-'));
      const files = await writeServerCertificate(join(work, 'pki'), { hosts: ['127.0.0.1'], days: 2 });
      ca = await readFile(files.caCertificate);
      const requests: Recorded[] = [];
      const server = createHttpsServer(
        { cert: await readFile(files.serverCertificate), key: await readFile(files.serverKey) },
        (request, response) => {
          requests.push({
            method: request.method ?? '',
            url: request.url ?? '',
            headers: request.headers,
            at: Date.now(),
          });
          response.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' });
          response.end('{}');
        },
      );
      registry = await listen(server, 'https', requests);
    });

    after(async () => {
      await registry?.close();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('refuses a certificate from an unknown CA, without retrying', async () => {
      const client = new RegistryClient({ registry: registry.url, retry: fast });
      const error = await rejection(client.ping());
      assert.equal(error.status, undefined);
      assert.equal(error.retryable, false);
      assert.match(error.message, /self[- ]signed|unable to verify|SELF_SIGNED|UNABLE_TO_VERIFY/i);
      await client.close();
    });

    it('trusts a custom CA besides the system roots', async () => {
      const client = new RegistryClient({ registry: registry.url, tls: { ca } });
      assert.equal((await client.ping()).apiVersion, 'registry/2.0');
      await client.close();
    });

    it('skips verification when insecure', async () => {
      const client = new RegistryClient({ registry: registry.url, tls: { insecure: true } });
      assert.equal((await client.ping()).apiVersion, 'registry/2.0');
      await client.close();
    });

    it('lets an insecure bare host fall back to plain HTTP, as skopeo --tls-verify=false does', async () => {
      const plain = await peer((_request, response) => {
        response.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' });
        response.end('{}');
      });
      try {
        const host = new URL(plain.url).host;
        const client = new RegistryClient({ registry: host, tls: { insecure: true } });
        await client.ping();
        assert.equal((await client.baseUrl()).protocol, 'http:');
        await client.close();
        const secure = new RegistryClient({ registry: new URL(registry.url).host, tls: { insecure: true } });
        await secure.ping();
        assert.equal((await secure.baseUrl()).protocol, 'https:');
        await secure.close();
      } finally {
        await plain.close();
      }
    });
  });
});
