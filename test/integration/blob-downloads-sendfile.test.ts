import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, get, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeServerCertificate } from '../../src/http/tls/certificate-directory.ts';
import { sendfileSupport } from '../../src/storage/filesystem/sendfile-binding.ts';
import { type Blob, pushBlobMonolithic, randomBlob, sha256 } from '../helpers/push.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Large blob pulls from the real server, which sends filesystem blobs with sendfile(2) on plain
 * HTTP and writes them through Node on TLS. NODE_DEBUG=wharf-sendfile makes the server print which
 * path each download took.
 */

const MiB = 1024 * 1024;
const repository = 'big/layers';
const requireSendfile = process.env.CI === 'true' || sendfileSupport().available;
const debugEnv = { NODE_DEBUG: 'wharf-sendfile' };

let wharf: WharfProcess;
let blobs: Blob[];

function blobUrl(blob: Blob): string {
  return `${wharf.url}/v2/${repository}/blobs/${blob.digest}`;
}

function sendfileLines(): string[] {
  return wharf.output().match(/sent \d+ bytes with sendfile/g) ?? [];
}

/** The server prints a download's path once it ends, which can be just after the client has it all. */
async function waitForOutput(text: string): Promise<void> {
  for (let waited = 0; !wharf.output().includes(text); waited += 20) {
    if (waited > 5_000) assert.fail(`the server never printed "${text}"`);
    await sleep(20);
  }
}

interface Pulled {
  status: number;
  headers: IncomingMessage['headers'];
  digest: string;
  reusedSocket: boolean;
}

function pull(url: string, options: { agent?: Agent; range?: string; ca?: Buffer } = {}): Promise<Pulled> {
  return new Promise((resolve, reject) => {
    const headers = options.range ? { Range: options.range } : {};
    const onResponse = (response: IncomingMessage) => {
      const hash = createHash('sha256');
      response.on('data', (chunk: Buffer) => hash.update(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          digest: `sha256:${hash.digest('hex')}`,
          reusedSocket: request.reusedSocket,
        }),
      );
      response.on('error', reject);
    };
    const request = options.ca
      ? httpsGet(url, { ca: options.ca, agent: false, headers }, onResponse)
      : get(url, { agent: options.agent ?? false, headers }, onResponse);
    request.on('error', reject);
  });
}

before(async () => {
  wharf = await startWharf({ env: debugEnv });
  blobs = [randomBlob(40 * MiB + 1), randomBlob(24 * MiB + 3)];
  for (const blob of blobs) await pushBlobMonolithic(wharf.url, repository, blob);
});

after(async () => {
  await wharf?.close();
});

describe('large blob pulls over plain HTTP', () => {
  it('a whole blob arrives intact, with its headers', async () => {
    const blob = blobs[0]!;
    const before = sendfileLines().length;
    const pulled = await pull(blobUrl(blob));
    assert.equal(pulled.status, 200);
    assert.equal(pulled.headers['content-length'], String(blob.bytes.length));
    assert.equal(pulled.headers['docker-content-digest'], blob.digest);
    assert.equal(pulled.headers['content-type'], 'application/octet-stream');
    assert.equal(pulled.digest, blob.digest);
    if (requireSendfile) {
      await waitForOutput(`sent ${blob.bytes.length} bytes with sendfile`);
      assert.deepEqual(sendfileLines().slice(before), [`sent ${blob.bytes.length} bytes with sendfile`]);
    }
  });

  it('the response size metric counts bytes sent with sendfile', async () => {
    const blob = blobs[1]!;
    const sizeSum = async () => {
      const text = await (await fetch(`${wharf.url}/metrics`)).text();
      const line = text
        .split('\n')
        .find((row) => /^registry_http_response_size_bytes_sum\{[^}]*handler="blob"/.test(row));
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    const before = await sizeSum();
    const pulled = await pull(blobUrl(blob));
    assert.equal(pulled.digest, blob.digest);
    for (let waited = 0; (await sizeSum()) - before < blob.bytes.length; waited += 50) {
      if (waited > 5_000) assert.fail(`response bytes grew by ${(await sizeSum()) - before}, not ${blob.bytes.length}`);
      await sleep(50);
    }
    assert.equal((await sizeSum()) - before, blob.bytes.length);
  });

  it('a Range request gets exactly those bytes', async () => {
    const blob = blobs[0]!;
    const start = 1000;
    const end = 20 * MiB + 17;
    const pulled = await pull(blobUrl(blob), { range: `bytes=${start}-${end}` });
    assert.equal(pulled.status, 206);
    assert.equal(pulled.headers['content-range'], `bytes ${start}-${end}/${blob.bytes.length}`);
    assert.equal(pulled.headers['content-length'], String(end - start + 1));
    assert.equal(pulled.digest, sha256(blob.bytes.subarray(start, end + 1)));
    if (requireSendfile) await waitForOutput(`sent ${end - start + 1} bytes with sendfile`);
  });

  it('six pulls at once', async () => {
    const wanted = [...blobs, ...blobs, ...blobs];
    const pulled = await Promise.all(wanted.map((blob) => pull(blobUrl(blob))));
    for (const [index, result] of pulled.entries()) {
      assert.equal(result.status, 200);
      assert.equal(result.digest, wanted[index]!.digest);
    }
  });

  it('the connection serves the next requests after a blob', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await pull(blobUrl(blobs[1]!), { agent });
      const second = await pull(blobUrl(blobs[0]!), { agent });
      const ranged = await pull(blobUrl(blobs[1]!), { agent, range: 'bytes=5-' });
      assert.equal(first.digest, blobs[1]!.digest);
      assert.equal(second.digest, blobs[0]!.digest);
      assert.equal(ranged.digest, sha256(blobs[1]!.bytes.subarray(5)));
      assert.deepEqual([second.reusedSocket, ranged.reusedSocket], [true, true]);
    } finally {
      agent.destroy();
    }
  });

  it('a client that hangs up mid-blob leaves the server serving others', async () => {
    const blob = blobs[0]!;
    const { hostname, port, pathname } = new URL(blobUrl(blob));
    const received = await new Promise<number>((resolve) => {
      let count = 0;
      const socket = connect({ host: hostname, port: Number(port) }, () => {
        socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${wharf.host}\r\n\r\n`);
      });
      socket.on('data', (chunk: Buffer) => {
        count += chunk.length;
        if (count > 2 * MiB) socket.resetAndDestroy();
      });
      socket.on('close', () => resolve(count));
      socket.on('error', () => {});
    });
    assert.ok(received > 2 * MiB && received < blob.bytes.length, `received ${received} bytes`);
    const next = await Promise.all(blobs.map((each) => pull(blobUrl(each))));
    assert.deepEqual(
      next.map((result) => result.digest),
      blobs.map((each) => each.digest),
    );
    assert.doesNotMatch(wharf.output(), /uncaught|FATAL|Segmentation/i);
  });
});

describe('large blob pulls over TLS', () => {
  let pkiDir: string;

  before(async () => {
    pkiDir = await mkdtemp(join(tmpdir(), 'wharf-sendfile-tls-'));
    await wharf.stop();
  });

  after(async () => {
    await rm(pkiDir, { recursive: true, force: true });
  });

  it('are written through Node, intact', async () => {
    const pki = await writeServerCertificate(pkiDir, { hosts: ['127.0.0.1'], days: 1 });
    wharf = await startWharf({
      dataDir: wharf.dataDir,
      env: { ...debugEnv, REGISTRY_HTTP_TLS_CERTIFICATE: pki.serverCertificate, REGISTRY_HTTP_TLS_KEY: pki.serverKey },
    });
    assert.match(wharf.url, /^https:/);
    const blob = blobs[1]!;
    const pulled = await pull(blobUrl(blob), { ca: await readFile(pki.caCertificate) });
    assert.equal(pulled.status, 200);
    assert.equal(pulled.digest, blob.digest);
    if (requireSendfile) await waitForOutput('buffered download: a TLS connection');
    assert.deepEqual(sendfileLines(), []);
  });
});
