import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { digestHex } from '../../src/oci/digest.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';
import { putBlob, storageDriverContract } from '../contracts/storage-driver-contract.ts';

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

async function createDriver(): Promise<FilesystemDriver> {
  const root = await mkdtemp(join(tmpdir(), 'wharf-fs-driver-'));
  roots.push(root);
  const driver = new FilesystemDriver(root);
  await driver.init();
  return driver;
}

storageDriverContract('filesystem', createDriver);

describe('filesystem layout', () => {
  it('stores a blob once at blobs/<algorithm>/<prefix>/<hex> and leaves no staging file', async () => {
    const driver = await createDriver();
    const digest = await putBlob(driver, Buffer.from('layout'));
    const hex = digestHex(digest);
    assert.deepEqual(await readdir(join(driver.rootDirectory, 'blobs', 'sha256', hex.slice(0, 2))), [hex]);
    assert.deepEqual(await readdir(join(driver.rootDirectory, 'uploads')), []);
  });

  it('refuses upload ids that are not UUIDs before touching a path', async () => {
    const driver = await createDriver();
    await assert.rejects(driver.startUpload('../../etc/passwd'));
    await assert.rejects(driver.readUpload('../x'));
  });
});
