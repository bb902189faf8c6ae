import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, pushBlob, pushImage, randomBlob, send, sha256, uniqueRepo } from '../../helpers/http.ts';
import { startWharf, type WharfProcess } from '../../helpers/wharf.ts';

describe('blobs (end-2, end-10)', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWharf({ env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true' } });
  });
  after(async () => {
    await wharf?.close();
  });

  const blobUrl = (repo: string, digest: string) => `${wharf.url}/v2/${repo}/blobs/${digest}`;

  it('GET serves the exact bytes with Content-Length, Docker-Content-Digest, ETag and Accept-Ranges', async () => {
    const repo = uniqueRepo('blob-get');
    const bytes = randomBlob(3000);
    const digest = await pushBlob(wharf.url, repo, bytes);
    const result = await send(blobUrl(repo, digest));
    assert.equal(result.status, 200);
    assert.deepEqual(result.body, bytes);
    assert.equal(result.headers.get('content-length'), '3000');
    assert.equal(result.headers.get('docker-content-digest'), digest);
    assert.ok(result.headers.get('etag'), 'ETag header');
    assert.equal(result.headers.get('accept-ranges'), 'bytes');
  });

  it('HEAD answers 200 with the size and digest and no body', async () => {
    const repo = uniqueRepo('blob-head');
    const bytes = randomBlob(777);
    const digest = await pushBlob(wharf.url, repo, bytes);
    const result = await send(blobUrl(repo, digest), { method: 'HEAD' });
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('content-length'), '777');
    assert.equal(result.headers.get('docker-content-digest'), digest);
    assert.ok(result.headers.get('etag'), 'ETag header');
    assert.equal(result.body.length, 0);
  });

  describe('Range requests', () => {
    const repo = uniqueRepo('blob-range');
    const bytes = randomBlob(1000);
    let digest = '';
    before(async () => {
      digest = await pushBlob(wharf.url, repo, bytes);
    });

    const ranged = (range: string) => send(blobUrl(repo, digest), { headers: { range } });

    it('bytes=a-b answers 206 with Content-Range and exactly those bytes', async () => {
      const result = await ranged('bytes=100-199');
      assert.equal(result.status, 206);
      assert.equal(result.headers.get('content-range'), 'bytes 100-199/1000');
      assert.equal(result.headers.get('content-length'), '100');
      assert.deepEqual(result.body, bytes.subarray(100, 200));
    });

    it('a single byte range (bytes=0-0)', async () => {
      const result = await ranged('bytes=0-0');
      assert.equal(result.status, 206);
      assert.equal(result.headers.get('content-range'), 'bytes 0-0/1000');
      assert.deepEqual(result.body, bytes.subarray(0, 1));
    });

    it('a suffix range (bytes=-N) serves the last N bytes', async () => {
      const result = await ranged('bytes=-250');
      assert.equal(result.status, 206);
      assert.equal(result.headers.get('content-range'), 'bytes 750-999/1000');
      assert.deepEqual(result.body, bytes.subarray(750));
    });

    it('an open range (bytes=a-) serves to the end', async () => {
      const result = await ranged('bytes=900-');
      assert.equal(result.status, 206);
      assert.equal(result.headers.get('content-range'), 'bytes 900-999/1000');
      assert.deepEqual(result.body, bytes.subarray(900));
    });

    it('a range ending past the blob is cut at the last byte', async () => {
      const result = await ranged('bytes=990-5000');
      assert.equal(result.status, 206);
      assert.equal(result.headers.get('content-range'), 'bytes 990-999/1000');
      assert.deepEqual(result.body, bytes.subarray(990));
    });

    it('an unsatisfiable range answers 416 with Content-Range: bytes */size', async () => {
      const result = await ranged('bytes=1000-');
      assert.equal(result.status, 416);
      assert.equal(result.headers.get('content-range'), 'bytes */1000');
    });

    it('a resumed download (range after a partial read) reassembles the blob', async () => {
      const first = await ranged('bytes=0-399');
      const rest = await ranged('bytes=400-');
      assert.deepEqual(Buffer.concat([first.body, rest.body]), bytes);
    });
  });

  it('an unknown blob is 404 BLOB_UNKNOWN on GET and 404 on HEAD', async () => {
    const repo = uniqueRepo('blob-unknown');
    await pushBlob(wharf.url, repo, randomBlob(10));
    const missing = sha256(randomBlob(10));
    assertError(await send(blobUrl(repo, missing)), 404, 'BLOB_UNKNOWN');
    const head = await send(blobUrl(repo, missing), { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal(head.body.length, 0);
  });

  it('a blob pushed to one repository is not found through another', async () => {
    const owner = uniqueRepo('blob-owner');
    const other = uniqueRepo('blob-other');
    await pushBlob(wharf.url, other, randomBlob(10));
    const digest = await pushBlob(wharf.url, owner, randomBlob(64));
    assertError(await send(blobUrl(other, digest)), 404, 'BLOB_UNKNOWN');
    assert.equal((await send(blobUrl(other, digest), { method: 'HEAD' })).status, 404);
  });

  it('a malformed digest is 400 DIGEST_INVALID', async () => {
    const repo = uniqueRepo('blob-bad-digest');
    for (const digest of [
      'sha256:abc',
      `sha256:${'G'.repeat(64)}`,
      'md5:d41d8cd98f00b204e9800998ecf8427e',
      'nodigest',
    ]) {
      assertError(await send(blobUrl(repo, digest)), 400, 'DIGEST_INVALID');
    }
  });

  it('DELETE answers 202, then the blob is 404 BLOB_UNKNOWN', async () => {
    const repo = uniqueRepo('blob-delete');
    const digest = await pushBlob(wharf.url, repo, randomBlob(100));
    const deleted = await send(blobUrl(repo, digest), { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    assertError(await send(blobUrl(repo, digest)), 404, 'BLOB_UNKNOWN');
    assert.equal((await send(blobUrl(repo, digest), { method: 'HEAD' })).status, 404);
  });

  it('a deleted blob can be pushed again', async () => {
    const repo = uniqueRepo('blob-repush');
    const bytes = randomBlob(400);
    const digest = await pushBlob(wharf.url, repo, bytes);
    assert.equal((await send(blobUrl(repo, digest), { method: 'DELETE' })).status, 202);
    assert.equal(await pushBlob(wharf.url, repo, bytes), digest);
    const again = await send(blobUrl(repo, digest));
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, bytes);
  });

  it('DELETE of an unknown blob is 404 BLOB_UNKNOWN', async () => {
    const repo = uniqueRepo('blob-delete-unknown');
    await pushBlob(wharf.url, repo, randomBlob(10));
    assertError(await send(blobUrl(repo, sha256(randomBlob(8))), { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
  });

  it('DELETE of a blob in one repository leaves it in another', async () => {
    const first = uniqueRepo('blob-delete-a');
    const second = uniqueRepo('blob-delete-b');
    const bytes = randomBlob(300);
    const digest = await pushBlob(wharf.url, first, bytes);
    await pushBlob(wharf.url, second, bytes);
    assert.equal((await send(blobUrl(first, digest), { method: 'DELETE' })).status, 202);
    const kept = await send(blobUrl(second, digest));
    assert.equal(kept.status, 200);
    assert.deepEqual(kept.body, bytes);
  });

  it('layers of a pushed image are served by their digests', async () => {
    const repo = uniqueRepo('blob-image');
    const image = await pushImage(wharf.url, repo, 'v1');
    const layer = await send(blobUrl(repo, image.layers[0]!.digest));
    assert.equal(layer.status, 200);
    assert.deepEqual(layer.body, image.layerBytes[0]);
  });
});

describe('blob and manifest deletion disabled', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWharf({ env: { REGISTRY_STORAGE_DELETE_ENABLED: 'false' } });
  });
  after(async () => {
    await wharf?.close();
  });

  it('DELETE of a blob is 405 UNSUPPORTED and the blob stays', async () => {
    const repo = uniqueRepo('nodelete-blob');
    const bytes = randomBlob(50);
    const digest = await pushBlob(wharf.url, repo, bytes);
    assertError(await send(`${wharf.url}/v2/${repo}/blobs/${digest}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    const kept = await send(`${wharf.url}/v2/${repo}/blobs/${digest}`);
    assert.equal(kept.status, 200);
    assert.deepEqual(kept.body, bytes);
  });

  it('DELETE of a manifest, by tag or by digest, is 405 UNSUPPORTED and it stays', async () => {
    const repo = uniqueRepo('nodelete-manifest');
    const image = await pushImage(wharf.url, repo, 'v1');
    for (const reference of ['v1', image.digest]) {
      const url = `${wharf.url}/v2/${repo}/manifests/${reference}`;
      assertError(await send(url, { method: 'DELETE' }), 405, 'UNSUPPORTED');
      assert.equal((await send(url)).status, 200);
    }
  });
});
