import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { S3Driver } from '../../src/storage/s3/s3-driver.ts';
import { storageDriverContract } from '../contracts/storage-driver-contract.ts';
import { type CephRgw, startCephRgw } from '../helpers/ceph-rgw.ts';

let rgw: CephRgw;
before(async () => {
  rgw = await startCephRgw();
});
after(async () => {
  await rgw?.stop();
});

/** A fresh, empty driver: its own root directory in a shared bucket. */
async function createDriver(): Promise<S3Driver> {
  const config = rgw.s3Config({ bucket: 'contract', rootdirectory: `/run-${randomUUID()}/` });
  const driver = S3Driver.fromConfig(config, true);
  await driver.init(config.region);
  return driver;
}

storageDriverContract('s3 (Ceph RADOS Gateway)', createDriver);
