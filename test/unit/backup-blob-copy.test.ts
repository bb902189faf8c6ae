import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { blobPath } from '../../src/backup/backup-layout.ts';
import { copyBlobToBackup } from '../../src/backup/blob-backup-copy.ts';
import { restoreBlob } from '../../src/backup/blob-restore-copy.ts';
import { type Digest, digestHex, digestOf } from '../../src/oci/digest.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';

/** The blob copies of backup and restore verify every byte on the way, in both directions. */
describe('backup blob copies', () => {
  let work: string;
  let storage: FilesystemDriver;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-backup-unit-'));
    storage = new FilesystemDriver(join(work, 'storage'));
    await storage.init();
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function store(bytes: Buffer): Promise<{ digest: Digest; size: number }> {
    const digest = digestOf(bytes);
    const id = randomUUID();
    await storage.startUpload(id);
    await storage.appendUpload(id, 0, Readable.from([bytes]));
    await storage.commitUpload(id, digest);
    return { digest, size: bytes.length };
  }

  it('copies a blob once, then finds it present, and reports one storage no longer has', async () => {
    const dir = join(work, 'once');
    const bytes = randomBytes(300_000);
    const blob = await store(bytes);
    let counted = 0;
    assert.equal(await copyBlobToBackup(storage, dir, blob, (n) => (counted += n)), 'copied');
    assert.equal(counted, bytes.length);
    assert.deepEqual(await readFile(blobPath(dir, blob.digest)), bytes);
    assert.equal(await copyBlobToBackup(storage, dir, blob, () => {}), 'present');
    const gone = { digest: digestOf(Buffer.from('never stored')), size: 12 };
    assert.equal(await copyBlobToBackup(storage, dir, gone, () => {}), 'missing');
  });

  it('refuses bytes in storage that do not match their digest, leaving no file behind', async () => {
    const dir = join(work, 'damaged-storage');
    const blob = await store(randomBytes(10_000));
    const stored = join(work, 'storage', 'blobs', 'sha256', digestHex(blob.digest).slice(0, 2), digestHex(blob.digest));
    await writeFile(stored, randomBytes(10_000));
    await assert.rejects(
      copyBlobToBackup(storage, dir, blob, () => {}),
      /sha256/,
    );
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), []);
  });

  it('restores a backup blob into storage, and refuses a corrupted one without committing it', async () => {
    const dir = join(work, 'restore');
    const source = await store(randomBytes(50_000));
    await copyBlobToBackup(storage, dir, source, () => {});
    const target = new FilesystemDriver(join(work, 'target'));
    await target.init();
    await restoreBlob(target, dir, source, () => {});
    assert.equal((await target.statBlob(source.digest))?.size, source.size);

    const damaged = await store(randomBytes(50_000));
    await copyBlobToBackup(storage, dir, damaged, () => {});
    const file = blobPath(dir, damaged.digest);
    const bytes = await readFile(file);
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    await writeFile(file, bytes);
    await assert.rejects(
      restoreBlob(target, dir, damaged, () => {}),
      /backup blob/,
    );
    assert.equal(await target.statBlob(damaged.digest), undefined);
    const uploads: string[] = [];
    for await (const id of target.listUploads()) uploads.push(id);
    assert.deepEqual(uploads, [], 'the upload was cancelled');
  });
});
