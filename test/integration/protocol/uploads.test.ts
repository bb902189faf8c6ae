import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  assertErrorBody,
  type HttpResult,
  locationOf,
  pushBlob,
  randomBlob,
  rawRequest,
  send,
  sha256,
  sha512,
  startUpload,
  uniqueRepo,
  withQuery,
} from '../../helpers/http.ts';
import { startWharf, type WharfProcess } from '../../helpers/wharf.ts';

describe('blob uploads (end-4a, end-4b, end-5, end-6, end-11, end-13)', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWharf({ env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true' } });
  });
  after(async () => {
    await wharf?.close();
  });

  const blobUrl = (repo: string, digest: string) => `${wharf.url}/v2/${repo}/blobs/${digest}`;
  const pathOf = (url: URL) => `${url.pathname}${url.search}`;

  const patch = (upload: URL, body: Buffer, range?: string): Promise<HttpResult> =>
    rawRequest(wharf.url, {
      method: 'PATCH',
      path: pathOf(upload),
      headers: {
        'content-type': 'application/octet-stream',
        ...(range === undefined ? {} : { 'content-range': range }),
      },
      body,
    });

  const finish = (upload: URL, digest: string, body?: Buffer, headers: Record<string, string> = {}) =>
    rawRequest(wharf.url, {
      method: 'PUT',
      path: pathOf(withQuery(upload, { digest })),
      headers: { 'content-type': 'application/octet-stream', ...headers },
      body: body ?? Buffer.alloc(0),
    });

  const status = (upload: URL) => send(upload);

  async function assertBlob(repo: string, digest: string, bytes: Buffer): Promise<void> {
    const result = await send(blobUrl(repo, digest));
    assert.equal(result.status, 200, `GET ${digest}: ${result.text()}`);
    assert.deepEqual(result.body, bytes);
    assert.equal(result.headers.get('docker-content-digest'), digest);
  }

  function assertBlobLocation(result: HttpResult, repo: string, digest: string): void {
    assert.equal(locationOf(wharf.url, result).pathname, `/v2/${repo}/blobs/${digest}`);
    assert.equal(result.headers.get('docker-content-digest'), digest);
  }

  async function assertAbsent(repo: string, ...digests: string[]): Promise<void> {
    for (const digest of digests) {
      assert.equal((await send(blobUrl(repo, digest), { method: 'HEAD' })).status, 404, `${digest} must not exist`);
    }
  }

  it('POST starts a session: 202 with Location, Docker-Upload-UUID and Range: 0-0', async () => {
    const repo = uniqueRepo('upload-start');
    const result = await send(`${wharf.url}/v2/${repo}/blobs/uploads/`, {
      method: 'POST',
      headers: { 'content-length': '0' },
    });
    assert.equal(result.status, 202);
    const uuid = result.headers.get('docker-upload-uuid');
    assert.ok(uuid, 'Docker-Upload-UUID header');
    const location = locationOf(wharf.url, result);
    assert.ok(location.pathname.startsWith(`/v2/${repo}/blobs/uploads/`), location.pathname);
    assert.ok(location.href.includes(uuid), 'Location carries the session id');
    assert.equal(result.headers.get('range'), '0-0');
  });

  it('a single POST with ?digest= and the body is 201 with the blob Location and digest', async () => {
    const repo = uniqueRepo('upload-single-post');
    const bytes = randomBlob(4096);
    const digest = sha256(bytes);
    const result = await rawRequest(wharf.url, {
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/?digest=${digest}`,
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(result.status, 201, result.text());
    assertBlobLocation(result, repo, digest);
    await assertBlob(repo, digest, bytes);
  });

  it('POST then PUT with the whole body is 201 with the blob Location and digest', async () => {
    const repo = uniqueRepo('upload-post-put');
    const bytes = randomBlob(10_000);
    const digest = sha256(bytes);
    const upload = await startUpload(wharf.url, repo);
    const result = await finish(upload, digest, bytes);
    assert.equal(result.status, 201, result.text());
    assertBlobLocation(result, repo, digest);
    const location = await send(locationOf(wharf.url, result));
    assert.deepEqual(location.body, bytes, 'the Location is pullable');
    await assertBlob(repo, digest, bytes);
  });

  it('an empty blob uploads and serves with Content-Length 0', async () => {
    const repo = uniqueRepo('upload-empty');
    const bytes = Buffer.alloc(0);
    const digest = await pushBlob(wharf.url, repo, bytes);
    const result = await send(blobUrl(repo, digest));
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('content-length'), '0');
    assert.equal(result.body.length, 0);
  });

  it('a streamed PATCH (chunked transfer encoding, no Content-Range) then PUT without a body', async () => {
    const repo = uniqueRepo('upload-stream');
    const parts = [randomBlob(1000), randomBlob(70_000), randomBlob(3)];
    const bytes = Buffer.concat(parts);
    const digest = sha256(bytes);
    const upload = await startUpload(wharf.url, repo);
    const patched = await rawRequest(wharf.url, {
      method: 'PATCH',
      path: pathOf(upload),
      headers: { 'content-type': 'application/octet-stream' },
      chunks: parts,
    });
    assert.equal(patched.status, 202, patched.text());
    assert.equal(patched.headers.get('range'), `0-${bytes.length - 1}`);
    const next = locationOf(wharf.url, patched);
    const done = await finish(next, digest);
    assert.equal(done.status, 201, done.text());
    assertBlobLocation(done, repo, digest);
    await assertBlob(repo, digest, bytes);
  });

  it('chunked PATCHes with Content-Range, status checks between them, then PUT', async () => {
    const repo = uniqueRepo('upload-chunks');
    const first = randomBlob(1024);
    const second = randomBlob(2048);
    const bytes = Buffer.concat([first, second]);
    const digest = sha256(bytes);
    let upload = await startUpload(wharf.url, repo);

    const one = await patch(upload, first, '0-1023');
    assert.equal(one.status, 202, one.text());
    assert.equal(one.headers.get('range'), '0-1023');
    upload = locationOf(wharf.url, one);

    const checked = await status(upload);
    assert.equal(checked.status, 204);
    assert.equal(checked.headers.get('range'), '0-1023');
    assert.ok(checked.headers.get('docker-upload-uuid'), 'Docker-Upload-UUID on status');
    upload = locationOf(wharf.url, checked);

    const two = await patch(upload, second, '1024-3071');
    assert.equal(two.status, 202, two.text());
    assert.equal(two.headers.get('range'), '0-3071');
    upload = locationOf(wharf.url, two);

    const done = await finish(upload, digest);
    assert.equal(done.status, 201, done.text());
    assertBlobLocation(done, repo, digest);
    await assertBlob(repo, digest, bytes);
  });

  it('GET status of a fresh session is 204 with Range: 0-0 and Location', async () => {
    const repo = uniqueRepo('upload-status');
    const upload = await startUpload(wharf.url, repo);
    const result = await status(upload);
    assert.equal(result.status, 204);
    assert.equal(result.headers.get('range'), '0-0');
    assert.equal(locationOf(wharf.url, result).pathname, upload.pathname);
    assert.equal(result.body.length, 0);
  });

  it('the final PUT may carry the last chunk (no Content-Range)', async () => {
    const repo = uniqueRepo('upload-last-chunk');
    const first = randomBlob(500);
    const last = randomBlob(700);
    const bytes = Buffer.concat([first, last]);
    const digest = sha256(bytes);
    const upload = await startUpload(wharf.url, repo);
    const one = await patch(upload, first, '0-499');
    assert.equal(one.status, 202, one.text());
    const done = await finish(locationOf(wharf.url, one), digest, last);
    assert.equal(done.status, 201, done.text());
    await assertBlob(repo, digest, bytes);
  });

  it('the final PUT may carry the last chunk with its Content-Range', async () => {
    const repo = uniqueRepo('upload-last-range');
    const first = randomBlob(500);
    const last = randomBlob(700);
    const bytes = Buffer.concat([first, last]);
    const digest = sha256(bytes);
    const upload = await startUpload(wharf.url, repo);
    const one = await patch(upload, first, '0-499');
    assert.equal(one.status, 202, one.text());
    const done = await finish(locationOf(wharf.url, one), digest, last, { 'content-range': '500-1199' });
    assert.equal(done.status, 201, done.text());
    await assertBlob(repo, digest, bytes);
  });

  it('an out-of-order chunk is 416 with the current Range, and the upload can go on', async () => {
    const repo = uniqueRepo('upload-out-of-order');
    const first = randomBlob(100);
    const second = randomBlob(100);
    const bytes = Buffer.concat([first, second]);
    const upload = await startUpload(wharf.url, repo);
    const one = await patch(upload, first, '0-99');
    assert.equal(one.status, 202, one.text());
    const next = locationOf(wharf.url, one);

    const skipped = await patch(next, second, '150-249');
    assert.equal(skipped.status, 416, skipped.text());
    assert.equal(skipped.headers.get('range'), '0-99');
    if (skipped.body.length > 0) assertErrorBody(skipped);

    const checked = await status(next);
    assert.equal(checked.status, 204);
    assert.equal(checked.headers.get('range'), '0-99', 'the rejected chunk was not stored');

    const two = await patch(locationOf(wharf.url, checked), second, '100-199');
    assert.equal(two.status, 202, two.text());
    const done = await finish(locationOf(wharf.url, two), sha256(bytes));
    assert.equal(done.status, 201, done.text());
    await assertBlob(repo, sha256(bytes), bytes);
  });

  it('an overlapping chunk is 416 with the current Range', async () => {
    const repo = uniqueRepo('upload-overlap');
    const upload = await startUpload(wharf.url, repo);
    const one = await patch(upload, randomBlob(100), '0-99');
    assert.equal(one.status, 202, one.text());
    const next = locationOf(wharf.url, one);
    const overlapping = await patch(next, randomBlob(100), '50-149');
    assert.equal(overlapping.status, 416, overlapping.text());
    assert.equal(overlapping.headers.get('range'), '0-99');
    const again = await patch(next, randomBlob(100), '0-99');
    assert.equal(again.status, 416, 'resending the first chunk overlaps too');
    assert.equal(again.headers.get('range'), '0-99');
  });

  it('a first chunk not starting at 0 is 416', async () => {
    const repo = uniqueRepo('upload-bad-start');
    const upload = await startUpload(wharf.url, repo);
    const result = await patch(upload, randomBlob(10), '10-19');
    assert.equal(result.status, 416, result.text());
    assert.ok(result.headers.get('range'), 'the 416 tells the client where to resume');
  });

  it('a Content-Range whose length differs from Content-Length is 400 SIZE_INVALID', async () => {
    const repo = uniqueRepo('upload-size-mismatch');
    const upload = await startUpload(wharf.url, repo);
    const result = await patch(upload, randomBlob(50), '0-99');
    assertError(result, 400, 'SIZE_INVALID');
    assert.equal((await status(upload)).headers.get('range'), '0-0', 'nothing was stored');
  });

  it('DELETE of a session is 204; then it is 404 BLOB_UPLOAD_UNKNOWN for GET, PATCH and PUT', async () => {
    const repo = uniqueRepo('upload-cancel');
    const bytes = randomBlob(100);
    const upload = await startUpload(wharf.url, repo);
    const one = await patch(upload, bytes, '0-99');
    assert.equal(one.status, 202);
    const live = locationOf(wharf.url, one);
    const cancelled = await send(live, { method: 'DELETE' });
    assert.equal(cancelled.status, 204);
    assertError(await status(live), 404, 'BLOB_UPLOAD_UNKNOWN');
    assertError(await patch(live, randomBlob(10)), 404, 'BLOB_UPLOAD_UNKNOWN');
    assertError(await finish(live, sha256(bytes)), 404, 'BLOB_UPLOAD_UNKNOWN');
    assertError(await send(live, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertAbsent(repo, sha256(bytes));
  });

  it('a completed session is gone: GET status is 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const repo = uniqueRepo('upload-closed');
    const bytes = randomBlob(64);
    const upload = await startUpload(wharf.url, repo);
    const done = await finish(upload, sha256(bytes), bytes);
    assert.equal(done.status, 201);
    assertError(await status(upload), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it("a session cannot be used through another repository's path", async () => {
    const owner = uniqueRepo('upload-owner');
    const intruder = uniqueRepo('upload-intruder');
    const upload = await startUpload(wharf.url, owner);
    const id = upload.pathname.split('/').pop() ?? '';
    const foreign = new URL(upload);
    foreign.pathname = `/v2/${intruder}/blobs/uploads/${id}`;
    assertError(await status(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    assertError(await patch(foreign, randomBlob(10)), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await status(upload)).status, 204, 'the session is still live in its own repository');
  });

  it('PUT whose digest does not match the bytes is 400 DIGEST_INVALID and nothing becomes visible', async () => {
    const repo = uniqueRepo('upload-digest-mismatch');
    const bytes = randomBlob(256);
    const claimed = sha256(randomBlob(256));
    const upload = await startUpload(wharf.url, repo);
    assertError(await finish(upload, claimed, bytes), 400, 'DIGEST_INVALID');
    await assertAbsent(repo, claimed, sha256(bytes));
  });

  it('a chunked upload closed with the wrong digest is 400 DIGEST_INVALID', async () => {
    const repo = uniqueRepo('upload-chunk-mismatch');
    const bytes = randomBlob(300);
    const claimed = sha256(randomBlob(300));
    const upload = await startUpload(wharf.url, repo);
    const one = await patch(upload, bytes, '0-299');
    assert.equal(one.status, 202);
    assertError(await finish(locationOf(wharf.url, one), claimed), 400, 'DIGEST_INVALID');
    await assertAbsent(repo, claimed, sha256(bytes));
  });

  it('a single POST whose digest does not match is 400 DIGEST_INVALID and nothing becomes visible', async () => {
    const repo = uniqueRepo('upload-post-mismatch');
    const bytes = randomBlob(128);
    const claimed = sha256(randomBlob(128));
    const result = await rawRequest(wharf.url, {
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/?digest=${claimed}`,
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assertError(result, 400, 'DIGEST_INVALID');
    await assertAbsent(repo, claimed, sha256(bytes));
  });

  it('PUT with a malformed digest parameter is 400 DIGEST_INVALID', async () => {
    const repo = uniqueRepo('upload-bad-digest');
    const upload = await startUpload(wharf.url, repo);
    assertError(await finish(upload, 'sha256:nothex', randomBlob(10)), 400, 'DIGEST_INVALID');
  });

  it('PUT without a digest parameter is a 400', async () => {
    const repo = uniqueRepo('upload-no-digest');
    const upload = await startUpload(wharf.url, repo);
    const result = await rawRequest(wharf.url, {
      method: 'PUT',
      path: pathOf(upload),
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBlob(10),
    });
    assertError(result, 400, ['DIGEST_INVALID', 'BLOB_UPLOAD_INVALID']);
  });

  it('sha512 digests work for a monolithic upload (single POST and POST then PUT)', async () => {
    const repo = uniqueRepo('upload-sha512');
    const bytes = randomBlob(2000);
    const digest = sha512(bytes);
    const posted = await rawRequest(wharf.url, {
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/?digest=${digest}`,
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(posted.status, 201, posted.text());
    assertBlobLocation(posted, repo, digest);
    await assertBlob(repo, digest, bytes);
    const head = await send(blobUrl(repo, digest), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '2000');

    const other = randomBlob(99);
    const upload = await startUpload(wharf.url, repo);
    const put = await finish(upload, sha512(other), other);
    assert.equal(put.status, 201, put.text());
    await assertBlob(repo, sha512(other), other);
  });

  it('a client that disconnects mid-body leaves no blob and the server keeps serving', async () => {
    const repo = uniqueRepo('upload-truncated');
    const bytes = randomBlob(100_000);
    const digest = sha256(bytes);
    const upload = await startUpload(wharf.url, repo);
    const target = new URL(wharf.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(target.port), target.hostname, () => {
        socket.write(
          `PUT ${pathOf(withQuery(upload, { digest }))} HTTP/1.1\r\nHost: ${target.host}\r\n` +
            `Content-Type: application/octet-stream\r\nContent-Length: ${bytes.length}\r\n\r\n`,
        );
        socket.write(bytes.subarray(0, 40_000), () => setTimeout(() => socket.destroy(), 200));
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await assertAbsent(repo, digest);
    const version = await send(`${wharf.url}/v2/`);
    assert.equal(version.status, 200);
    const checked = await status(upload);
    assert.ok([204, 404].includes(checked.status), `status after an aborted PUT: ${checked.status}`);
  });

  describe('cross-repository mount', () => {
    it('POST ?mount=&from= of a blob in the source repository is 201 with the target Location', async () => {
      const source = uniqueRepo('mount-source');
      const target = uniqueRepo('mount-target');
      const bytes = randomBlob(800);
      const digest = await pushBlob(wharf.url, source, bytes);
      const result = await send(`${wharf.url}/v2/${target}/blobs/uploads/?mount=${digest}&from=${source}`, {
        method: 'POST',
      });
      assert.equal(result.status, 201, result.text());
      assertBlobLocation(result, target, digest);
      const head = await send(blobUrl(target, digest), { method: 'HEAD' });
      assert.equal(head.status, 200);
      await assertBlob(target, digest, bytes);
    });

    it('mount without from, of a blob held elsewhere in the registry, is 201', async () => {
      const source = uniqueRepo('mount-anywhere-source');
      const target = uniqueRepo('mount-anywhere-target');
      const bytes = randomBlob(321);
      const digest = await pushBlob(wharf.url, source, bytes);
      const result = await send(`${wharf.url}/v2/${target}/blobs/uploads/?mount=${digest}`, { method: 'POST' });
      assert.equal(result.status, 201, result.text());
      assertBlobLocation(result, target, digest);
      await assertBlob(target, digest, bytes);
    });

    it('mount of an unknown blob falls back to a normal session (202) that can complete', async () => {
      const source = uniqueRepo('mount-unknown-source');
      const target = uniqueRepo('mount-unknown-target');
      await pushBlob(wharf.url, source, randomBlob(10));
      const bytes = randomBlob(555);
      const digest = sha256(bytes);
      const result = await send(`${wharf.url}/v2/${target}/blobs/uploads/?mount=${digest}&from=${source}`, {
        method: 'POST',
      });
      assert.equal(result.status, 202, result.text());
      assert.ok(result.headers.get('docker-upload-uuid'), 'Docker-Upload-UUID');
      const upload = locationOf(wharf.url, result);
      assert.ok(upload.pathname.startsWith(`/v2/${target}/blobs/uploads/`), upload.pathname);
      const done = await finish(upload, digest, bytes);
      assert.equal(done.status, 201, done.text());
      await assertBlob(target, digest, bytes);
    });
  });
});
