import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  type PushedImage,
  pushImage,
  randomBlob,
  rawRequest,
  send,
  sha256,
  startUpload,
  withQuery,
} from '../../helpers/http.ts';
import { startWharf, type WharfProcess } from '../../helpers/wharf.ts';

describe('read-only mode (storage.maintenance.readonly)', () => {
  const repo = 'readonly/app';
  let dataDir: string;
  let wharf: WharfProcess;
  let image: PushedImage;
  let pendingUpload: URL;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'wharf-readonly-'));
    // Content and an open upload session are made while writable, then the same data is served read-only.
    const writable = await startWharf({ dataDir, env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true' } });
    try {
      image = await pushImage(writable.url, repo, 'v1');
      pendingUpload = await startUpload(writable.url, repo);
    } finally {
      await writable.stop();
    }
    wharf = await startWharf({
      dataDir,
      env: { REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED: 'true', REGISTRY_STORAGE_DELETE_ENABLED: 'true' },
    });
  });
  after(async () => {
    await wharf?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Only the path and query: the session was opened on the writable instance's port. */
  const pathOf = (url: URL) => `${url.pathname}${url.search}`;

  it('reads work: version check, manifests, blobs, tags, catalog, referrers', async () => {
    assert.equal((await send(`${wharf.url}/v2/`)).status, 200);
    const manifest = await send(`${wharf.url}/v2/${repo}/manifests/v1`);
    assert.equal(manifest.status, 200);
    assert.deepEqual(manifest.body, image.bytes);
    assert.equal((await send(`${wharf.url}/v2/${repo}/manifests/v1`, { method: 'HEAD' })).status, 200);
    const layer = await send(`${wharf.url}/v2/${repo}/blobs/${image.layers[0]?.digest}`);
    assert.equal(layer.status, 200);
    assert.deepEqual(layer.body, image.layerBytes[0]);
    const tags = await send(`${wharf.url}/v2/${repo}/tags/list`);
    assert.deepEqual(tags.json(), { name: repo, tags: ['v1'] });
    const catalog = await send(`${wharf.url}/v2/_catalog`);
    assert.deepEqual(catalog.json(), { repositories: [repo] });
    assert.equal((await send(`${wharf.url}/v2/${repo}/referrers/${image.digest}`)).status, 200);
  });

  it('starting an upload is 405 UNSUPPORTED (plain, single POST, mount)', async () => {
    const bytes = randomBlob(16);
    assertError(await send(`${wharf.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' }), 405, 'UNSUPPORTED');
    const single = await rawRequest(wharf.url, {
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/?digest=${sha256(bytes)}`,
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assertError(single, 405, 'UNSUPPORTED');
    const mount = await send(
      `${wharf.url}/v2/readonly/other/blobs/uploads/?mount=${image.layers[0]?.digest}&from=${repo}`,
      { method: 'POST' },
    );
    assertError(mount, 405, 'UNSUPPORTED');
    assertError(await send(`${wharf.url}/v2/readonly/other/tags/list`), 404, 'NAME_UNKNOWN');
  });

  it('writing to an upload opened before is 405 UNSUPPORTED', async () => {
    const bytes = randomBlob(16);
    const patch = await rawRequest(wharf.url, {
      method: 'PATCH',
      path: pathOf(pendingUpload),
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assertError(patch, 405, 'UNSUPPORTED');
    const put = await rawRequest(wharf.url, {
      method: 'PUT',
      path: pathOf(withQuery(pendingUpload, { digest: sha256(bytes) })),
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assertError(put, 405, 'UNSUPPORTED');
    assertError(await rawRequest(wharf.url, { method: 'DELETE', path: pathOf(pendingUpload) }), 405, 'UNSUPPORTED');
  });

  it('PUT manifest is 405 UNSUPPORTED and the tag is unchanged', async () => {
    const result = await rawRequest(wharf.url, {
      method: 'PUT',
      path: `/v2/${repo}/manifests/v2`,
      headers: { 'content-type': image.mediaType },
      body: image.bytes,
    });
    assertError(result, 405, 'UNSUPPORTED');
    assertError(await send(`${wharf.url}/v2/${repo}/manifests/v2`), 404, 'MANIFEST_UNKNOWN');
  });

  it('DELETE of a manifest (by tag or digest) or a blob is 405 UNSUPPORTED and nothing goes', async () => {
    for (const path of [
      `/v2/${repo}/manifests/v1`,
      `/v2/${repo}/manifests/${image.digest}`,
      `/v2/${repo}/blobs/${image.layers[0]?.digest}`,
    ]) {
      assertError(await send(`${wharf.url}${path}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
      assert.equal((await send(`${wharf.url}${path}`, { method: 'HEAD' })).status, 200, `${path} is still there`);
    }
  });
});
