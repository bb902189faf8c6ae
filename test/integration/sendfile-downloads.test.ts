import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeServerCertificate } from '../../src/http/tls/certificate-directory.ts';
import { bodyBytesSentBesideWrite } from '../../src/observability/bytes-sent-beside-write.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';
import { sendFileRange } from '../../src/storage/filesystem/send-file.ts';
import { sendfileSupport } from '../../src/storage/filesystem/sendfile-binding.ts';
import { sendFileToSocket } from '../../src/storage/filesystem/sendfile-to-socket.ts';
import { putBlob } from '../contracts/storage-driver-contract.ts';

/**
 * Blob downloads over real HTTP through sendFileToSocket, the way the filesystem driver serves
 * them: every body is compared by digest, and the server records which path each response took.
 */

const mib = 1024 * 1024;

interface Outcome {
  path: 'sendfile' | 'buffered';
  /** The error code when the download ended early. */
  error?: string;
}

const requireSendfile = process.env.CI === 'true' || sendfileSupport().available;

let dir: string;
const files = new Map<string, { bytes: Buffer; path: string }>();
const outcomes = new Map<string, Promise<Outcome>>();
let server: Server;
let port: number;

/**
 * GET /<file>?id=<tag>[&start=&end=][&chunked][&padding=<bytes>]: the body of the file (or the
 * inclusive range), with Content-Length unless `chunked`, and an `x-padding` header of `padding`
 * bytes to make the headers larger than the socket buffers.
 */
async function serve(request: IncomingMessage, response: ServerResponse): Promise<Outcome> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const file = files.get(url.pathname.slice(1));
  if (!file) {
    response.writeHead(404).end();
    return { path: 'buffered', error: 'ENOENT' };
  }
  const start = Number(url.searchParams.get('start') ?? 0);
  const end = url.searchParams.has('end') ? Number(url.searchParams.get('end')) + 1 : file.bytes.length;
  response.statusCode = url.searchParams.has('start') ? 206 : 200;
  if (!url.searchParams.has('chunked')) response.setHeader('Content-Length', end - start);
  const padding = Number(url.searchParams.get('padding') ?? 0);
  if (padding > 0) response.setHeader('x-padding', 'p'.repeat(padding));
  const handle = await open(file.path, 'r');
  // sendFileToSocket rejects only once it has started sending; a false return means it sent nothing.
  let path: Outcome['path'] = 'sendfile';
  try {
    if (!(await sendFileToSocket(handle, start, end, response))) {
      path = 'buffered';
      await sendFileRange(handle, start, end, response);
    }
  } catch (error) {
    response.destroy();
    return { path, error: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
  } finally {
    await handle.close();
  }
  response.end();
  return { path };
}

const responses = new Map<string, ServerResponse>();

function handler(request: IncomingMessage, response: ServerResponse): void {
  const id = new URL(request.url ?? '/', 'http://localhost').searchParams.get('id') ?? '';
  responses.set(id, response);
  outcomes.set(id, serve(request, response));
}

async function outcomeOf(id: string): Promise<Outcome> {
  for (let waited = 0; !outcomes.has(id); waited += 10) {
    if (waited > 5_000) throw new Error(`request ${id} never reached the server`);
    await sleep(10);
  }
  return outcomes.get(id)!;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function addFile(name: string, size: number): Buffer {
  const bytes = randomBytes(size);
  files.set(name, { bytes, path: join(dir, name) });
  return bytes;
}

interface HttpGetResult {
  status: number;
  headers: IncomingMessage['headers'];
  digest: string;
  length: number;
  reusedSocket: boolean;
  localPort: number | undefined;
}

function httpGet(path: string, agent: Agent | false = false): Promise<HttpGetResult> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path, agent }, (response) => {
      const hash = createHash('sha256');
      let length = 0;
      const localPort = response.socket.localPort;
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          digest: hash.digest('hex'),
          length,
          reusedSocket: request.reusedSocket,
          localPort,
        }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

interface RawResponse {
  head: string;
  body: Buffer;
  /** False when the connection closed before Content-Length bytes arrived. */
  complete: boolean;
}

/**
 * One GET on a fresh connection with a hand-written reader, so a test controls when bytes are
 * read (`control` gets the socket once the request is written) and sees headers of any size.
 */
function rawGet(path: string, control?: (socket: Socket) => void): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      control?.(socket);
    });
    const chunks: Buffer[] = [];
    let received = 0;
    let head: string | undefined;
    let bodyLength = Number.POSITIVE_INFINITY;
    const finish = (complete: boolean) => {
      const all = Buffer.concat(chunks);
      const headEnd = all.indexOf('\r\n\r\n');
      resolve({
        head: head ?? all.toString('latin1'),
        body: headEnd < 0 ? Buffer.alloc(0) : all.subarray(headEnd + 4),
        complete,
      });
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (head === undefined) {
        const all = Buffer.concat(chunks);
        const headEnd = all.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        head = all.subarray(0, headEnd).toString('latin1');
        bodyLength = headEnd + 4 + Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? Number.NaN);
        chunks.splice(0, chunks.length, all);
      }
      if (received >= bodyLength) {
        socket.destroy();
        finish(true);
      }
    });
    socket.on('close', () => finish(false));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
  });
}

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Waits until the process holds at most `count` descriptors (closing is asynchronous). */
async function descriptorsSettle(count: number): Promise<number> {
  let current = openDescriptors();
  for (let waited = 0; current > count && waited < 3_000; waited += 20) {
    await sleep(20);
    current = openDescriptors();
  }
  return current;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-sendfile-'));
  addFile('big', 64 * mib);
  for (let index = 0; index < 8; index++) addFile(`part${index}`, 16 * mib + index);
  addFile('small', 100_000);
  for (const file of files.values()) await writeFile(file.path, file.bytes);
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('downloads with sendfile', () => {
  it('sends a whole 64 MiB file, headers first, byte for byte', async () => {
    const result = await httpGet('/big?id=whole');
    assert.equal(result.status, 200);
    assert.equal(result.headers['content-length'], String(64 * mib));
    assert.equal(result.length, 64 * mib);
    assert.equal(result.digest, sha256(files.get('big')!.bytes));
    assert.deepEqual(await outcomeOf('whole'), { path: requireSendfile ? 'sendfile' : 'buffered' });
    // What byte counts that wrap response.write (access log, metrics) must add.
    assert.equal(bodyBytesSentBesideWrite(responses.get('whole')!), requireSendfile ? 64 * mib : 0);
  });

  it('sends a range (offset and length)', async () => {
    const start = 1_000_003;
    const end = 40 * mib - 3;
    const result = await httpGet(`/big?id=range&start=${start}&end=${end}`);
    assert.equal(result.status, 206);
    assert.equal(result.length, end - start + 1);
    assert.equal(result.digest, sha256(files.get('big')!.bytes.subarray(start, end + 1)));
    assert.deepEqual(await outcomeOf('range'), { path: requireSendfile ? 'sendfile' : 'buffered' });
  });

  it('serves eight downloads at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, index) => httpGet(`/part${index}?id=concurrent${index}`)),
    );
    for (const [index, result] of results.entries()) {
      assert.equal(result.status, 200);
      assert.equal(result.digest, sha256(files.get(`part${index}`)!.bytes), `part${index}`);
      assert.deepEqual(await outcomeOf(`concurrent${index}`), { path: requireSendfile ? 'sendfile' : 'buffered' });
    }
  });

  it('keeps the connection usable for the next request', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await httpGet('/part1?id=keepalive1', agent);
      const second = await httpGet('/part2?id=keepalive2', agent);
      const third = await httpGet('/small?id=keepalive3', agent);
      assert.equal(first.digest, sha256(files.get('part1')!.bytes));
      assert.equal(second.digest, sha256(files.get('part2')!.bytes));
      assert.equal(third.digest, sha256(files.get('small')!.bytes));
      assert.equal(second.reusedSocket, true);
      assert.equal(third.reusedSocket, true);
      assert.equal(second.localPort, first.localPort);
      assert.equal(third.localPort, first.localPort);
      for (const id of ['keepalive1', 'keepalive2', 'keepalive3']) {
        assert.deepEqual(await outcomeOf(id), { path: requireSendfile ? 'sendfile' : 'buffered' });
      }
    } finally {
      agent.destroy();
    }
  });

  it('puts headers larger than the socket buffers on the wire before the body', async () => {
    const padding = 8 * mib;
    const response = await rawGet(`/part3?id=padded&padding=${padding}`, (socket) => {
      // Not reading for a while leaves most of the headers queued in Node when the body starts.
      socket.pause();
      setTimeout(() => socket.resume(), 300);
    });
    assert.equal(response.complete, true);
    assert.match(response.head, /^HTTP\/1\.1 200 OK\r\n/);
    const paddingHeader = /\r\nx-padding: (p*)/.exec(response.head)?.[1];
    assert.equal(paddingHeader?.length, padding);
    assert.equal(sha256(response.body), sha256(files.get('part3')!.bytes));
    assert.deepEqual(await outcomeOf('padded'), { path: requireSendfile ? 'sendfile' : 'buffered' });
  });

  it('waits for a slow reader without spinning and without blocking other requests', async () => {
    let stalledSocket: Socket | undefined;
    const download = rawGet('/big?id=slow', (socket) => {
      stalledSocket = socket;
      socket.pause();
    });
    await sleep(300);
    // The reader takes nothing now: the transfer is parked until the socket drains.
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const other = await httpGet('/part4?id=while-slow');
    assert.equal(other.digest, sha256(files.get('part4')!.bytes));
    await sleep(1_000 - (performance.now() - wallBefore));
    const cpu = process.cpuUsage(cpuBefore);
    // A sender polling the full socket would burn a core for the whole second.
    assert.ok(cpu.user + cpu.system < 600_000, `used ${(cpu.user + cpu.system) / 1000} ms of CPU in 1 s`);
    // Then read in small sips with pauses between them.
    for (let sip = 0; sip < 5; sip++) {
      stalledSocket?.resume();
      await sleep(5);
      stalledSocket?.pause();
      await sleep(50);
    }
    stalledSocket?.resume();
    const response = await download;
    assert.equal(response.complete, true);
    assert.equal(sha256(response.body), sha256(files.get('big')!.bytes));
    assert.deepEqual(await outcomeOf('slow'), { path: requireSendfile ? 'sendfile' : 'buffered' });
  });

  it('downloads parked on stalled clients leave the thread pool to file system calls', async () => {
    // More stalled downloads than libuv has pool threads (4 by default).
    const stalled: Socket[] = [];
    const downloads = Array.from({ length: 6 }, (_, index) =>
      rawGet(`/part${index}?id=parked${index}`, (socket) => {
        stalled.push(socket);
        socket.pause();
      }),
    );
    await sleep(300);
    let ended = 0;
    for (let index = 0; index < 6; index++) void outcomeOf(`parked${index}`).then(() => ended++);
    const started = performance.now();
    for (let read = 0; read < 20; read++) await readFile(files.get('small')!.path);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 2_000, `20 file reads took ${Math.round(elapsed)} ms`);
    assert.equal(ended, 0, 'the downloads were still parked during the reads');
    for (const socket of stalled) socket.resume();
    for (const [index, response] of (await Promise.all(downloads)).entries()) {
      assert.equal(response.complete, true);
      assert.equal(sha256(response.body), sha256(files.get(`part${index}`)!.bytes));
      assert.deepEqual(await outcomeOf(`parked${index}`), { path: requireSendfile ? 'sendfile' : 'buffered' });
    }
  });

  it('stops when the client hangs up mid-download, closes the file, and serves the next client', async () => {
    // Warm up whatever a transfer opens once per process (the sender thread's descriptors).
    await httpGet('/small?id=warm');
    const descriptorsBefore = openDescriptors();

    const whileReading = await rawGet('/big?id=abort-reading', (socket) => {
      let received = 0;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > 4 * mib) socket.destroy();
      });
    });
    assert.equal(whileReading.complete, false);
    const readingOutcome = await outcomeOf('abort-reading');
    assert.ok(readingOutcome.error, 'the download was reported as ended early');
    assert.match(readingOutcome.error, /^(EPIPE|ECONNRESET|ECANCELED)$/);
    const partial = bodyBytesSentBesideWrite(responses.get('abort-reading')!);
    assert.ok(partial < 64 * mib, `${partial} bytes counted as sent`);
    if (requireSendfile) assert.ok(partial > 4 * mib, `${partial} bytes counted as sent`);

    const whileStalled = await rawGet('/big?id=abort-stalled', (socket) => {
      socket.pause();
      setTimeout(() => socket.resetAndDestroy(), 200);
    });
    assert.equal(whileStalled.complete, false);
    const stalledOutcome = await outcomeOf('abort-stalled');
    assert.match(stalledOutcome.error ?? '', /^(EPIPE|ECONNRESET|ECANCELED)$/);

    const next = await httpGet('/big?id=after-abort');
    assert.equal(next.digest, sha256(files.get('big')!.bytes));
    const descriptorsAfter = await descriptorsSettle(descriptorsBefore);
    assert.ok(
      descriptorsAfter <= descriptorsBefore,
      `${descriptorsAfter} descriptors open, ${descriptorsBefore} before`,
    );
  });

  it('cancels a transfer whose socket the server closes', async () => {
    let client: Socket | undefined;
    const download = rawGet('/big?id=server-close', (socket) => {
      client = socket;
      socket.pause();
    });
    await sleep(200);
    server.closeAllConnections();
    // Reading again lets the client see the end of the connection.
    client?.resume();
    const response = await download;
    assert.equal(response.complete, false);
    const outcome = await outcomeOf('server-close');
    if (requireSendfile) assert.deepEqual(outcome, { path: 'sendfile', error: 'ECANCELED' });
    else assert.ok(outcome.error, 'the download was reported as ended early');
  });
});

describe('downloads that take the buffered path', () => {
  it('a response without Content-Length (chunked encoding)', async () => {
    const result = await httpGet('/part5?id=chunked&chunked');
    assert.equal(result.headers['transfer-encoding'], 'chunked');
    assert.equal(result.digest, sha256(files.get('part5')!.bytes));
    assert.deepEqual(await outcomeOf('chunked'), { path: 'buffered' });
  });

  it('a TLS connection', async () => {
    const pki = await writeServerCertificate(join(dir, 'pki'), { hosts: ['127.0.0.1'], days: 1 });
    const tlsServer = createHttpsServer(
      { cert: await readFile(pki.serverCertificate), key: await readFile(pki.serverKey) },
      handler,
    );
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    try {
      const { port: tlsPort } = tlsServer.address() as AddressInfo;
      const ca = await readFile(pki.caCertificate);
      const digest = await new Promise<string>((resolve, reject) => {
        httpsGet({ host: '127.0.0.1', port: tlsPort, path: '/part6?id=tls', ca, agent: false }, (response) => {
          const hash = createHash('sha256');
          response.on('data', (chunk: Buffer) => hash.update(chunk));
          response.on('end', () => resolve(hash.digest('hex')));
          response.on('error', reject);
        }).on('error', reject);
      });
      assert.equal(digest, sha256(files.get('part6')!.bytes));
      assert.deepEqual(await outcomeOf('tls'), { path: 'buffered' });
    } finally {
      tlsServer.closeAllConnections();
      await new Promise((resolve) => tlsServer.close(resolve));
    }
  });

  it('not an HTTP response at all', async () => {
    const handle = await open(files.get('small')!.path, 'r');
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    });
    try {
      assert.equal(await sendFileToSocket(handle, 0, 100_000, sink), false);
    } finally {
      await handle.close();
    }
    assert.equal(chunks.length, 0);
  });
});

describe('the filesystem driver', () => {
  it('sendBlob serves a blob over HTTP with a range, on the fast path when it can', async () => {
    const root = join(dir, 'driver');
    const driver = new FilesystemDriver(root);
    await driver.init();
    const bytes = randomBytes(24 * mib + 5);
    const digest: Digest = await putBlob(driver, bytes);
    assert.equal(digest, digestOf(bytes));
    const driverServer = createServer((request, response) => {
      const ranged = request.url === '/range';
      const range = ranged ? { start: 5, end: 20 * mib } : undefined;
      response.setHeader('Content-Length', ranged ? 20 * mib - 4 : bytes.length);
      driver.sendBlob(digest, range, response).then(
        () => response.end(),
        () => response.destroy(),
      );
    });
    await new Promise<void>((resolve) => driverServer.listen(0, '127.0.0.1', resolve));
    const savedPort = port;
    port = (driverServer.address() as AddressInfo).port;
    try {
      const whole = await httpGet('/whole');
      assert.equal(whole.digest, sha256(bytes));
      const ranged = await httpGet('/range');
      assert.equal(ranged.digest, sha256(bytes.subarray(5, 20 * mib + 1)));
    } finally {
      port = savedPort;
      driverServer.closeAllConnections();
      await new Promise((resolve) => driverServer.close(resolve));
    }
  });
});
