import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { S3StorageConfig } from '../../src/config/config.ts';
import { type Digest, digestHex, digestOf } from '../../src/oci/digest.ts';
import { copyPieces } from '../../src/storage/s3/assemble-object.ts';
import { S3Driver } from '../../src/storage/s3/s3-driver.ts';
import { putBlob } from '../contracts/storage-driver-contract.ts';
import { type CephRgw, startCephRgw } from '../helpers/ceph-rgw.ts';

const MiB = 1024 * 1024;

let rgw: CephRgw;
before(async () => {
  rgw = await startCephRgw();
});
after(async () => {
  await rgw?.stop();
});

function configFor(overrides: Partial<S3StorageConfig> = {}): S3StorageConfig {
  return rgw.s3Config({ bucket: 'multipart', rootdirectory: `root-${randomUUID()}`, chunksize: 5 * MiB, ...overrides });
}

async function openDriver(config: S3StorageConfig, redirect = true): Promise<S3Driver> {
  const driver = S3Driver.fromConfig(config, redirect);
  await driver.init(config.region);
  return driver;
}

/** The staged objects of an upload: name → size. */
async function stagedObjects(driver: S3Driver, root: string, id: string): Promise<Record<string, number>> {
  const prefix = `${root}/uploads/${id}/`;
  const objects: Record<string, number> = {};
  for await (const object of driver.bucket.list(prefix)) objects[object.key.slice(prefix.length)] = object.size;
  return objects;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function blobETag(driver: S3Driver, root: string, digest: Digest): Promise<string> {
  const hex = digestHex(digest);
  const response = await driver.bucket.client.send(
    new HeadObjectCommand({ Bucket: driver.bucket.name, Key: `${root}/blobs/sha256/${hex.slice(0, 2)}/${hex}` }),
  );
  return response.ETag ?? '';
}

describe('s3 uploads in parts', () => {
  it('gathers 1 MiB chunks into 5 MiB parts and keeps the rest as the tail', async () => {
    const config = configFor();
    const driver = await openDriver(config);
    const id = randomUUID();
    await driver.startUpload(id);
    const chunks = Array.from({ length: 12 }, () => randomBytes(MiB));
    let size = 0;
    for (const chunk of chunks) {
      size = await driver.appendUpload(id, size, Readable.from([chunk]));
      assert.equal((await driver.statUpload(id))?.size, size);
    }
    assert.equal(size, 12 * MiB);
    const staged = await stagedObjects(driver, config.rootdirectory, id);
    assert.deepEqual(Object.keys(staged), ['part.00001', 'part.00002', 'state', 'tail.00002']);
    assert.deepEqual([staged['part.00001'], staged['part.00002'], staged['tail.00002']], [5 * MiB, 5 * MiB, 2 * MiB]);

    const whole = Buffer.concat(chunks);
    const digest = digestOf(whole);
    await driver.commitUpload(id, digest);
    assert.deepEqual(await readAll(await driver.readBlob(digest)), whole);
    // A multipart object's ETag ends in its part count: two parts and the tail, copied server-side.
    assert.match(await blobETag(driver, config.rootdirectory, digest), /-3"?$/);
    assert.deepEqual(await stagedObjects(driver, config.rootdirectory, id), {});
  });

  it('lets another instance continue, re-read and commit an upload', async () => {
    const config = configFor();
    const first = await openDriver(config);
    const second = await openDriver(config);
    const id = randomUUID();
    const head = randomBytes(7 * MiB);
    const rest = randomBytes(4 * MiB + 123);
    await first.startUpload(id);
    assert.equal(await first.appendUpload(id, 0, Readable.from([head])), head.length);

    assert.equal((await second.statUpload(id))?.size, head.length);
    assert.equal(
      await second.appendUpload(id, head.length, Readable.from([rest.subarray(0, MiB), rest.subarray(MiB)])),
      head.length + rest.length,
    );
    const whole = Buffer.concat([head, rest]);
    assert.deepEqual(await readAll(await second.readUpload(id)), whole);
    const digest = digestOf(whole);
    await second.commitUpload(id, digest);
    assert.deepEqual(await readAll(await first.readBlob(digest)), whole);
    assert.deepEqual(
      await readAll(await first.readBlob(digest, { start: 7 * MiB - 2, end: 7 * MiB + 1 })),
      whole.subarray(7 * MiB - 2, 7 * MiB + 2),
    );
  });

  it('ignores a tail that a later part absorbed and removes it on the next append', async () => {
    const config = configFor();
    const driver = await openDriver(config);
    const id = randomUUID();
    const bytes = randomBytes(6 * MiB);
    await driver.startUpload(id);
    await driver.appendUpload(id, 0, Readable.from([bytes]));
    // What an append interrupted after writing part 1 but before replacing the tail leaves behind.
    await driver.bucket.put(`${config.rootdirectory}/uploads/${id}/tail.00000`, randomBytes(3 * MiB));
    assert.equal((await driver.statUpload(id))?.size, 6 * MiB);

    const more = Buffer.from('more');
    assert.equal(await driver.appendUpload(id, 6 * MiB, Readable.from([more])), 6 * MiB + 4);
    const staged = await stagedObjects(driver, config.rootdirectory, id);
    assert.deepEqual(Object.keys(staged), ['part.00001', 'state', 'tail.00001']);
    assert.equal(staged['tail.00001'], MiB + 4);
    assert.deepEqual(await readAll(await driver.readUpload(id)), Buffer.concat([bytes, more]));
  });

  it('copies large parts in ranges of multipartcopychunksize above multipartcopythresholdsize', async () => {
    const config = configFor({
      chunksize: 12 * MiB,
      multipartcopychunksize: 5 * MiB,
      multipartcopythresholdsize: 5 * MiB,
    });
    const driver = await openDriver(config);
    const bytes = randomBytes(30 * MiB);
    const digest = await putBlob(driver, bytes);
    assert.deepEqual(await readAll(await driver.readBlob(digest)), bytes);
    // Parts of 12, 12 and 6 MiB: 5 + 7, 5 + 7 and 6 (a remainder under 5 MiB joins the piece before it).
    assert.match(await blobETag(driver, config.rootdirectory, digest), /-5"?$/);
  });

  it('commits an upload of nothing as an empty blob', async () => {
    const driver = await openDriver(configFor());
    const digest = await putBlob(driver, Buffer.alloc(0));
    assert.equal((await driver.statBlob(digest))?.size, 0);
    assert.deepEqual(await readAll(await driver.readBlob(digest)), Buffer.alloc(0));
  });
});

describe('s3 redirects', () => {
  it('presigns a GET URL that plain fetch can download, valid for 20 minutes', async () => {
    const driver = await openDriver(configFor());
    const bytes = randomBytes(100_000);
    const digest = await putBlob(driver, bytes);
    const url = await driver.blobRedirectURL(digest, 'GET');
    assert.ok(url, 'a redirect URL');
    assert.equal(new URL(url).searchParams.get('X-Amz-Expires'), '1200');
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes);
    assert.equal(await driver.blobRedirectURL(digest, 'HEAD'), undefined);
  });

  it('does not redirect when storage.redirect.disable is set', async () => {
    const driver = await openDriver(configFor(), false);
    const digest = await putBlob(driver, Buffer.from('streamed through wharf'));
    assert.equal(await driver.blobRedirectURL(digest, 'GET'), undefined);
  });
});

describe('s3 bucket and limits', () => {
  it('creates a missing bucket once', async () => {
    const config = configFor({ bucket: `fresh-${randomUUID().slice(0, 8)}` });
    const driver = S3Driver.fromConfig(config, true);
    assert.equal(await driver.init(config.region), true);
    assert.equal(await driver.init(config.region), false);
    await driver.ping();
  });

  it('says what to check when the credentials are refused', async () => {
    const driver = S3Driver.fromConfig(configFor({ secretkey: 'not-the-secret' }), true);
    await assert.rejects(driver.init('us-east-1'), {
      message: 'S3 bucket multipart: access denied (403): check storage.s3.accesskey, secretkey and the IAM policy',
    });
  });

  it('spaces requests out to maxrequestspersecond', async () => {
    const driver = await openDriver(configFor({ maxrequestspersecond: 5 }));
    const missing = digestOf(Buffer.from('absent'));
    const started = performance.now();
    // One second's burst (5), then 10 more at 5 a second.
    for (let count = 0; count < 15; count++) assert.equal(await driver.statBlob(missing), undefined);
    assert.ok(performance.now() - started >= 1_800, `took ${performance.now() - started} ms`);
  });
});

describe('s3 copy pieces', () => {
  const settings = { concurrency: 4, thresholdSize: 32 * MiB, chunkSize: 32 * MiB };
  const object = (key: string, size: number) => ({ key, size, modifiedAt: new Date(0) });

  it('copies parts at or below the threshold whole', () => {
    assert.deepEqual(copyPieces([object('a', 10 * MiB), object('b', 3)], settings), [{ key: 'a' }, { key: 'b' }]);
  });

  it('cuts a large part, never leaving a piece under 5 MiB before the end', () => {
    assert.deepEqual(copyPieces([object('a', 100 * MiB), object('b', MiB)], settings), [
      { key: 'a', range: { start: 0, end: 32 * MiB - 1 } },
      { key: 'a', range: { start: 32 * MiB, end: 64 * MiB - 1 } },
      { key: 'a', range: { start: 64 * MiB, end: 100 * MiB - 1 } },
      { key: 'b' },
    ]);
  });

  it('copies sources whole when cutting would pass 10,000 parts', () => {
    const sources = Array.from({ length: 4_000 }, (_, index) => object(`p${index}`, 100 * MiB));
    assert.equal(copyPieces(sources, settings).length, 4_000);
  });
});
