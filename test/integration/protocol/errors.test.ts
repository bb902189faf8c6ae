import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  descriptorOf,
  emptyDescriptor,
  emptyJson,
  type HttpResult,
  MediaType,
  ociIndex,
  ociManifest,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  rawRequest,
  send,
  sha256,
  startUpload,
  uniqueRepo,
  withQuery,
} from '../../helpers/http.ts';
import { startWharf, type WharfProcess } from '../../helpers/wharf.ts';

const secret = 'wharf-sentinel-secret-content';

describe('error codes and hostile input', () => {
  let wharf: WharfProcess;
  let sandbox: string;
  before(async () => {
    // The data dir sits inside a sandbox holding a file no request may read, change or remove.
    sandbox = await mkdtemp(join(tmpdir(), 'wharf-errors-'));
    const dataDir = join(sandbox, 'data');
    await mkdir(dataDir);
    await writeFile(join(sandbox, 'secret.txt'), secret);
    wharf = await startWharf({ dataDir, env: { REGISTRY_STORAGE_DELETE_ENABLED: 'false' } });
  });
  after(async () => {
    await wharf?.close();
    if (sandbox) await rm(sandbox, { recursive: true, force: true });
  });

  describe('each code with its status', () => {
    it('NAME_INVALID (400) for an uppercase name, bad separators, or a name over 255 characters', async () => {
      for (const name of [
        'Bad',
        'bad/Name',
        'a..b',
        '-lead',
        'trail-',
        'a//b',
        'a'.repeat(256),
        `${'a'.repeat(200)}/${'b'.repeat(60)}`,
      ]) {
        const result = await rawRequest(wharf.url, { method: 'GET', path: `/v2/${name}/tags/list` });
        assertError(result, 400, 'NAME_INVALID');
      }
      assertError(await send(`${wharf.url}/v2/Bad/manifests/latest`), 400, 'NAME_INVALID');
      assertError(await send(`${wharf.url}/v2/Bad/blobs/uploads/`, { method: 'POST' }), 400, 'NAME_INVALID');
      assertError(await send(`${wharf.url}/v2/Bad/blobs/${sha256(emptyJson)}`), 400, 'NAME_INVALID');
    });

    it('a name of exactly 255 characters is valid (404 NAME_UNKNOWN, not NAME_INVALID)', async () => {
      const name = `${'n'.repeat(127)}/${'m'.repeat(127)}`;
      assert.equal(name.length, 255);
      assertError(await send(`${wharf.url}/v2/${name}/tags/list`), 404, 'NAME_UNKNOWN');
    });

    it('NAME_UNKNOWN (404) for the tags of a repository that does not exist', async () => {
      assertError(await send(`${wharf.url}/v2/${uniqueRepo('errors-none')}/tags/list`), 404, 'NAME_UNKNOWN');
    });

    it('MANIFEST_UNKNOWN (404)', async () => {
      const repo = uniqueRepo('errors-manifest');
      await pushImage(wharf.url, repo, 'v1');
      assertError(await send(`${wharf.url}/v2/${repo}/manifests/v2`), 404, 'MANIFEST_UNKNOWN');
    });

    it('BLOB_UNKNOWN (404)', async () => {
      const repo = uniqueRepo('errors-blob');
      await pushBlob(wharf.url, repo, randomBlob(4));
      assertError(await send(`${wharf.url}/v2/${repo}/blobs/${sha256(randomBlob(4))}`), 404, 'BLOB_UNKNOWN');
    });

    it('BLOB_UPLOAD_UNKNOWN (404) for an unknown or malformed upload id, on every method', async () => {
      const repo = uniqueRepo('errors-upload');
      await startUpload(wharf.url, repo);
      for (const id of [randomUUID(), 'not-a-uuid', 'ZZZZ', 'a'.repeat(300), '%2e%2e']) {
        const path = `/v2/${repo}/blobs/uploads/${id}`;
        assertError(await rawRequest(wharf.url, { method: 'GET', path }), 404, 'BLOB_UPLOAD_UNKNOWN');
        assertError(
          await rawRequest(wharf.url, { method: 'PATCH', path, body: randomBlob(8) }),
          404,
          'BLOB_UPLOAD_UNKNOWN',
        );
        assertError(
          await rawRequest(wharf.url, { method: 'PUT', path: `${path}?digest=${sha256(emptyJson)}`, body: emptyJson }),
          404,
          'BLOB_UPLOAD_UNKNOWN',
        );
        assertError(await rawRequest(wharf.url, { method: 'DELETE', path }), 404, 'BLOB_UPLOAD_UNKNOWN');
      }
    });

    it('BLOB_UPLOAD_INVALID (400) for a malformed Content-Range on PATCH', async () => {
      const repo = uniqueRepo('errors-upload-invalid');
      const upload = await startUpload(wharf.url, repo);
      for (const range of ['bytes=0-9', 'abc', '9-0', '0-']) {
        const result = await rawRequest(wharf.url, {
          method: 'PATCH',
          path: `${upload.pathname}${upload.search}`,
          headers: { 'content-type': 'application/octet-stream', 'content-range': range },
          body: randomBlob(10),
        });
        assertError(result, 400, 'BLOB_UPLOAD_INVALID');
      }
    });

    it('DIGEST_INVALID (400) when the bytes do not match the digest', async () => {
      const repo = uniqueRepo('errors-digest');
      const upload = await startUpload(wharf.url, repo);
      const result = await send(withQuery(upload, { digest: sha256(randomBlob(4)) }), {
        method: 'PUT',
        body: randomBlob(4),
      });
      assertError(result, 400, 'DIGEST_INVALID');
    });

    it('SIZE_INVALID (413) for a manifest over the limit', async () => {
      const repo = uniqueRepo('errors-size');
      await pushBlob(wharf.url, repo, emptyJson);
      const manifest = ociManifest({ config: emptyDescriptor, annotations: { pad: 'p'.repeat(5 * 1024 * 1024) } });
      const result = await rawRequest(wharf.url, {
        method: 'PUT',
        path: `/v2/${repo}/manifests/big`,
        headers: { 'content-type': MediaType.ociManifest },
        body: Buffer.from(JSON.stringify(manifest)),
        holdBodyMs: 500,
      });
      assertError(result, 413, 'SIZE_INVALID');
    });

    it('MANIFEST_INVALID (400)', async () => {
      const repo = uniqueRepo('errors-manifest-invalid');
      assertError(
        await putManifest(wharf.url, repo, 'v1', Buffer.from('{nope'), MediaType.ociManifest),
        400,
        'MANIFEST_INVALID',
      );
    });

    it('MANIFEST_BLOB_UNKNOWN (400)', async () => {
      const repo = uniqueRepo('errors-manifest-blob');
      const missing = descriptorOf(MediaType.ociManifest, randomBlob(16));
      const index = Buffer.from(JSON.stringify(ociIndex({ manifests: [missing] })));
      assertError(await putManifest(wharf.url, repo, 'v1', index, MediaType.ociIndex), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('UNSUPPORTED (405) for DELETE while deletion is disabled', async () => {
      const repo = uniqueRepo('errors-unsupported');
      const digest = await pushBlob(wharf.url, repo, randomBlob(4));
      assertError(await send(`${wharf.url}/v2/${repo}/blobs/${digest}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    });
  });

  describe('path traversal', () => {
    const leaks = (result: HttpResult) => result.text().includes(secret) || /root:.*:0:0:/.test(result.text());

    async function assertSandboxIntact(): Promise<void> {
      assert.equal(await readFile(join(sandbox, 'secret.txt'), 'utf8'), secret);
      assert.deepEqual((await readdir(sandbox)).sort(), ['data', 'secret.txt']);
    }

    it('traversal in names, digests, references and upload ids gets a 4xx and touches nothing', async () => {
      const repo = uniqueRepo('errors-traversal');
      await pushImage(wharf.url, repo, 'v1');
      const requests: { method: string; path: string; body?: Buffer }[] = [
        { method: 'GET', path: '/v2/../../etc/passwd/tags/list' },
        { method: 'GET', path: '/v2/%2e%2e/%2e%2e/etc/passwd/tags/list' },
        { method: 'GET', path: '/v2/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd/tags/list' },
        { method: 'GET', path: `/v2/${repo}/../../../secret.txt` },
        { method: 'GET', path: `/v2/${repo}/blobs/sha256:../../x` },
        { method: 'GET', path: `/v2/${repo}/blobs/sha256:..%2F..%2F..%2Fsecret.txt` },
        { method: 'GET', path: `/v2/${repo}/blobs/..%2F..%2F..%2Fsecret.txt` },
        { method: 'HEAD', path: `/v2/${repo}/blobs/sha256:%2e%2e%2f%2e%2e%2fsecret.txt` },
        { method: 'DELETE', path: `/v2/${repo}/blobs/sha256:..%2F..%2F..%2Fsecret.txt` },
        { method: 'GET', path: `/v2/${repo}/manifests/sha256:..%2F..%2F..%2Fsecret.txt` },
        { method: 'GET', path: `/v2/${repo}/manifests/..%2F..%2F..%2Fsecret.txt` },
        { method: 'DELETE', path: `/v2/${repo}/manifests/..%2F..%2F..%2Fsecret.txt` },
        { method: 'PUT', path: `/v2/${repo}/manifests/..%2F..%2Fsecret.txt`, body: Buffer.from('{}') },
        { method: 'GET', path: `/v2/${repo}/blobs/uploads/..%2F..%2F..%2Fsecret.txt` },
        { method: 'PATCH', path: `/v2/${repo}/blobs/uploads/..%2F..%2F..%2Fsecret.txt`, body: Buffer.from('x') },
        {
          method: 'PUT',
          path: `/v2/${repo}/blobs/uploads/..%2F..%2Fsecret.txt?digest=${sha256(emptyJson)}`,
          body: emptyJson,
        },
        { method: 'DELETE', path: `/v2/${repo}/blobs/uploads/..%2F..%2F..%2Fsecret.txt` },
        { method: 'DELETE', path: `/v2/${repo}/blobs/uploads/../../../secret.txt` },
        { method: 'GET', path: `/v2/${repo}/referrers/sha256:..%2F..%2Fsecret.txt` },
        { method: 'GET', path: `/v2/${repo}%00/tags/list` },
      ];
      for (const request of requests) {
        const result = await rawRequest(wharf.url, request);
        assert.ok(
          result.status >= 400 && result.status < 500,
          `${request.method} ${request.path} answered ${result.status}`,
        );
        assert.ok(!leaks(result), `${request.method} ${request.path} leaked file content`);
      }
      // `last` is only a sort key, so any answer below 500 is fine as long as nothing leaks.
      const listed = await rawRequest(wharf.url, {
        method: 'GET',
        path: `/v2/${repo}/tags/list?last=..%2F..%2F..%2Fsecret.txt`,
      });
      assert.ok(!leaks(listed));
      await assertSandboxIntact();
    });

    it('a digest query with traversal is refused and writes nothing outside the data dir', async () => {
      const repo = uniqueRepo('errors-traversal-digest');
      const upload = await startUpload(wharf.url, repo);
      const put = await rawRequest(wharf.url, {
        method: 'PUT',
        path: `${upload.pathname}?digest=sha256:..%2F..%2F..%2Fsecret.txt`,
        body: Buffer.from('overwrite'),
      });
      assertError(put, 400, 'DIGEST_INVALID');
      const post = await rawRequest(wharf.url, {
        method: 'POST',
        path: `/v2/${repo}/blobs/uploads/?digest=sha256:../../../secret.txt`,
        body: Buffer.from('overwrite'),
      });
      assertError(post, 400, 'DIGEST_INVALID');
      for (const query of [
        `mount=sha256:..%2F..%2F..%2Fsecret.txt&from=${repo}`,
        `mount=${sha256(emptyJson)}&from=..%2F..%2Fetc`,
      ]) {
        const mount = await rawRequest(wharf.url, { method: 'POST', path: `/v2/${repo}/blobs/uploads/?${query}` });
        assert.ok([202, 400].includes(mount.status), `mount ?${query} answered ${mount.status}`);
        assert.ok(!leaks(mount));
      }
      await assertSandboxIntact();
    });
  });
});
