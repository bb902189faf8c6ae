import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../src/oci/digest.ts';
import { S3Driver } from '../../src/storage/s3/s3-driver.ts';
import { type CephRgw, startCephRgw } from '../helpers/ceph-rgw.ts';
import { buildImageLayout, layoutBlobs, layoutTag } from '../helpers/images.ts';
import { absoluteLocation, blobOf, expectStatus, pushBlobChunked, startUpload } from '../helpers/push.ts';
import { seededRandomBytes } from '../helpers/random-bytes.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const MiB = 1024 * 1024;
const bucket = 'registry';
const secret = randomBytes(32).toString('hex');

describe('the registry on S3 (Ceph RADOS Gateway)', () => {
  let rgw: CephRgw;
  let work: string;
  let wharf: WharfProcess;
  let second: WharfProcess;
  let storage: S3Driver;
  const sharedEnv = () => ({
    ...rgw.s3Environment(bucket, '/wharf'),
    REGISTRY_STORAGE_S3_CHUNKSIZE: String(5 * MiB),
    REGISTRY_DATABASE_PATH: join(work, 'wharf.db'),
    REGISTRY_HTTP_SECRET: secret,
  });

  before(async () => {
    rgw = await startCephRgw();
    work = await mkdtemp(join(tmpdir(), 'wharf-s3-registry-'));
    // Two instances sharing the bucket, the database and the secret, as behind a load balancer.
    wharf = await startWharf({ filesystemStorage: false, env: sharedEnv() });
    second = await startWharf({ filesystemStorage: false, env: sharedEnv() });
    storage = S3Driver.fromConfig(rgw.s3Config({ bucket, rootdirectory: 'wharf' }), true);
  });

  after(async () => {
    await wharf?.close();
    await second?.close();
    await rgw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('creates the bucket at start and keeps blobs in it, not on disk', async () => {
    assert.match(wharf.output(), /created the S3 bucket/);
    assert.doesNotMatch(second.output(), /created the S3 bucket/);
    const blob = blobOf(randomBytes(1000));
    await pushBlobChunked(wharf.url, 'disk/check', blob, 1000);
    assert.equal((await storage.statBlob(blob.digest as Digest))?.size, 1000);
    assert.deepEqual(await readdir(wharf.dataDir), []);
  });

  it('round-trips an image with skopeo, byte for byte', async () => {
    const layout = join(work, 'source');
    const image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [
        { files: { 'etc/hostname': 's3\n' } },
        // Incompressible, so the layer is staged as several parts and a tail.
        { files: { 'opt/data.bin': seededRandomBytes('s3-layer', 13 * MiB) } },
      ],
    });
    await skopeo(['copy', `oci:${layout}:v1`, `docker://${wharf.host}/apps/s3:v1`]);

    const pulled = join(work, 'pulled');
    // Pulled from the other instance: blob GETs are redirected to the gateway.
    await skopeo(['copy', `docker://${second.host}/apps/s3:v1`, `oci:${pulled}:v1`]);
    assert.equal((await layoutTag(pulled, 'v1')).digest, image.manifest.digest);
    const source = await layoutBlobs(layout);
    const received = await layoutBlobs(pulled);
    assert.deepEqual([...received.keys()].sort(), [...image.blobDigests].sort());
    for (const [digest, blob] of received) {
      const original = source.get(digest);
      assert.ok(original, `${digest} was pushed`);
      assert.ok((await readFile(blob.path)).equals(await readFile(original.path)), `bytes of ${digest}`);
    }
  });

  it('redirects a blob GET to a presigned URL and answers HEAD itself', async () => {
    const blob = blobOf(randomBytes(6 * MiB + 17));
    await pushBlobChunked(wharf.url, 'redirect/app', blob, 2 * MiB);

    const get = await fetch(`${wharf.url}/v2/redirect/app/blobs/${blob.digest}`, { redirect: 'manual' });
    assert.equal(get.status, 307);
    assert.equal(get.headers.get('docker-content-digest'), blob.digest);
    const location = new URL(get.headers.get('location') ?? '');
    assert.equal(location.origin, rgw.endpoint);
    assert.ok(location.searchParams.has('X-Amz-Signature'), 'the URL is presigned');
    const download = await fetch(location);
    assert.equal(download.status, 200);
    assert.ok(Buffer.from(await download.arrayBuffer()).equals(blob.bytes), 'the presigned URL serves the bytes');

    const head = await fetch(`${wharf.url}/v2/redirect/app/blobs/${blob.digest}`, {
      method: 'HEAD',
      redirect: 'manual',
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('location'), null);
    assert.equal(head.headers.get('docker-content-digest'), blob.digest);
    assert.equal(head.headers.get('content-length'), String(blob.bytes.length));
  });

  it('streams blobs itself, ranges included, with storage.redirect.disable', async () => {
    const streaming = await startWharf({
      filesystemStorage: false,
      env: { ...sharedEnv(), REGISTRY_STORAGE_REDIRECT_DISABLE: 'true' },
    });
    try {
      const blob = blobOf(randomBytes(5 * MiB + 3));
      await pushBlobChunked(streaming.url, 'streamed/app', blob, 5 * MiB + 3);
      const url = `${streaming.url}/v2/streamed/app/blobs/${blob.digest}`;
      const get = await fetch(url, { redirect: 'manual' });
      assert.equal(get.status, 200);
      assert.ok(Buffer.from(await get.arrayBuffer()).equals(blob.bytes));
      const ranged = await fetch(url, { headers: { range: 'bytes=5242878-5242881' }, redirect: 'manual' });
      assert.equal(ranged.status, 206);
      assert.equal(ranged.headers.get('content-range'), `bytes 5242878-5242881/${blob.bytes.length}`);
      assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(blob.bytes.subarray(5242878, 5242882)));
    } finally {
      await streaming.close();
    }
  });

  it('finishes an upload whose chunks went to different instances', async () => {
    const blob = blobOf(randomBytes(7 * MiB + 5));
    const repo = 'spread/app';
    /** The upload URL the last response gave, sent to `instance` instead. */
    const on = (instance: WharfProcess, location: string) => {
      const upload = new URL(location);
      return new URL(upload.pathname + upload.search, instance.url);
    };
    let location = await startUpload(wharf.url, repo);
    const cut = 3 * MiB;
    for (const [instance, start, end] of [
      [wharf, 0, cut],
      [second, cut, blob.bytes.length],
    ] as const) {
      const response = await fetch(on(instance, location), {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end - 1}` },
        body: blob.bytes.subarray(start, end),
      });
      await expectStatus(response, 202, `PATCH ${start}-${end - 1} to ${instance.url}`);
      await response.arrayBuffer();
      location = absoluteLocation(instance.url, response);
    }
    // The first instance saw only the first chunk: it re-reads the staged bytes to check the digest.
    const commit = on(wharf, location);
    commit.searchParams.set('digest', blob.digest);
    const put = await fetch(commit, { method: 'PUT' });
    await expectStatus(put, 201, 'PUT on the first instance');
    const get = await fetch(`${second.url}/v2/${repo}/blobs/${blob.digest}`);
    assert.equal(get.status, 200);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(blob.bytes));
  });
});
