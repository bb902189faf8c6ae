import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { purgeUploads } from '../../src/gc/upload-purger.ts';
import { MetadataStore } from '../../src/metadata/metadata-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { S3Driver } from '../../src/storage/s3/s3-driver.ts';
import { type CephRgw, startCephRgw } from '../helpers/ceph-rgw.ts';

let rgw: CephRgw;
before(async () => {
  rgw = await startCephRgw();
});
after(async () => {
  await rgw?.stop();
});

const logger = createLogger({ level: 'error', formatter: 'json', fields: {} });

test('upload purging aborts the multipart uploads an interrupted commit left unfinished', {
  timeout: 90_000,
}, async () => {
  const root = `root-${randomUUID()}`;
  const config = rgw.s3Config({ bucket: 'leftovers', rootdirectory: root });
  const driver = S3Driver.fromConfig(config, false);
  await driver.init(config.region);
  const metadata = new MetadataStore(await openSqlite(':memory:'));
  try {
    // What a commit that crashed while assembling the blob leaves: an upload with a part, never completed.
    const key = `${root}/blobs/sha256/ab/${'ab'.repeat(32)}`;
    const created = await driver.bucket.client.send(
      new CreateMultipartUploadCommand({ Bucket: driver.bucket.name, Key: key }),
    );
    await driver.bucket.client.send(
      new UploadPartCommand({
        Bucket: driver.bucket.name,
        Key: key,
        UploadId: created.UploadId,
        PartNumber: 1,
        Body: randomBytes(1024),
      }),
    );
    const unfinished = async () => {
      const found: string[] = [];
      for await (const upload of driver.bucket.listMultipartUploads(`${root}/`)) found.push(upload.uploadId);
      return found;
    };
    assert.deepEqual(await unfinished(), [created.UploadId]);

    // Younger than the age limit: kept; a dry run only counts.
    assert.equal(await driver.purgeAbandonedWrites(new Date(Date.now() - 3_600_000), false), 0);
    assert.equal(await driver.purgeAbandonedWrites(new Date(Date.now() + 60_000), true), 1);
    assert.deepEqual(await unfinished(), [created.UploadId]);

    await purgeUploads(driver, metadata, { ageMs: -60_000, intervalMs: 1000, dryRun: false }, logger);
    assert.deepEqual(await unfinished(), []);
  } finally {
    await metadata.close();
  }
});
