import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { digestOf } from '../../src/oci/digest.ts';
import { type StorageDriver, StorageNotFoundError } from '../../src/storage/driver.ts';
import { UploadOffsetError } from '../../src/storage/upload-offset-error.ts';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Stages and commits `bytes` as one blob through the upload interface. */
export async function putBlob(driver: StorageDriver, bytes: Buffer) {
  const id = randomUUID();
  const digest = digestOf(bytes);
  await driver.startUpload(id);
  await driver.appendUpload(id, 0, Readable.from([bytes]));
  await driver.commitUpload(id, digest);
  return digest;
}

/**
 * What every storage driver must do, whatever it stores bytes in. A driver's test file calls this
 * with a factory for a fresh, empty driver.
 */
export function storageDriverContract(name: string, createDriver: () => Promise<StorageDriver>): void {
  describe(`storage driver contract: ${name}`, () => {
    it('stages chunks, commits them under the digest and reads them back', async () => {
      const driver = await createDriver();
      const id = randomUUID();
      const first = randomBytes(300_000);
      const second = randomBytes(123_457);
      await driver.startUpload(id);
      assert.equal((await driver.statUpload(id))?.size, 0);
      assert.equal(await driver.appendUpload(id, 0, Readable.from([first])), first.length);
      assert.equal(await driver.appendUpload(id, first.length, Readable.from([second])), first.length + second.length);
      const whole = Buffer.concat([first, second]);
      assert.deepEqual(await readAll(await driver.readUpload(id)), whole);
      const digest = digestOf(whole);
      assert.equal(await driver.statBlob(digest), undefined);
      await driver.commitUpload(id, digest);
      assert.equal((await driver.statBlob(digest))?.size, whole.length);
      assert.equal(await driver.statUpload(id), undefined);
      assert.deepEqual(await readAll(await driver.readBlob(digest)), whole);
      assert.deepEqual(await collect(driver.listBlobs()), [digest]);
    });

    it('reads byte ranges', async () => {
      const driver = await createDriver();
      const bytes = randomBytes(10_000);
      const digest = await putBlob(driver, bytes);
      assert.deepEqual(await readAll(await driver.readBlob(digest, { start: 10, end: 19 })), bytes.subarray(10, 20));
      assert.deepEqual(
        await readAll(await driver.readBlob(digest, { start: 9_999, end: 9_999 })),
        bytes.subarray(9_999),
      );
    });

    it('refuses an append at the wrong offset and reports the current size', async () => {
      const driver = await createDriver();
      const id = randomUUID();
      await driver.startUpload(id);
      await driver.appendUpload(id, 0, Readable.from([Buffer.from('abc')]));
      await assert.rejects(
        driver.appendUpload(id, 1, Readable.from([Buffer.from('x')])),
        (error: unknown) => error instanceof UploadOffsetError && error.currentSize === 3,
      );
      assert.equal((await driver.statUpload(id))?.size, 3);
    });

    it('keeps what arrived when the source fails mid-stream', async () => {
      const driver = await createDriver();
      const id = randomUUID();
      await driver.startUpload(id);
      const failing = new Readable({
        read() {
          this.push(Buffer.alloc(1000, 1));
          this.destroy(new Error('client went away'));
        },
      });
      await assert.rejects(driver.appendUpload(id, 0, failing), /client went away/);
      const size = (await driver.statUpload(id))?.size ?? -1;
      assert.ok(size >= 0 && size <= 1000, `size ${size}`);
      assert.equal(await driver.appendUpload(id, size, Readable.from([Buffer.from('more')])), size + 4);
    });

    it('committing a digest that already exists keeps one copy and drops the upload', async () => {
      const driver = await createDriver();
      const bytes = randomBytes(1000);
      const digest = await putBlob(driver, bytes);
      const again = await putBlob(driver, bytes);
      assert.equal(again, digest);
      assert.deepEqual(await collect(driver.listBlobs()), [digest]);
      assert.deepEqual(await collect(driver.listUploads()), []);
    });

    it('cancels uploads and deletes blobs', async () => {
      const driver = await createDriver();
      const id = randomUUID();
      await driver.startUpload(id);
      assert.deepEqual(await collect(driver.listUploads()), [id]);
      await driver.cancelUpload(id);
      assert.equal(await driver.statUpload(id), undefined);
      const digest = await putBlob(driver, Buffer.from('bye'));
      assert.equal(await driver.deleteBlob(digest), true);
      assert.equal(await driver.deleteBlob(digest), false);
      assert.equal(await driver.statBlob(digest), undefined);
    });

    it('reports missing things as StorageNotFoundError', async () => {
      const driver = await createDriver();
      const missing = digestOf(Buffer.from('never stored'));
      await assert.rejects(driver.readBlob(missing), StorageNotFoundError);
      await assert.rejects(driver.readUpload(randomUUID()), StorageNotFoundError);
      await assert.rejects(
        driver.appendUpload(randomUUID(), 0, Readable.from([Buffer.from('x')])),
        StorageNotFoundError,
      );
      await assert.rejects(driver.commitUpload(randomUUID(), missing), StorageNotFoundError);
    });

    it('answers ping', async () => {
      const driver = await createDriver();
      await driver.ping();
    });
  });
}
