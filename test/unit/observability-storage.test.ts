import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { createMetrics, instrumentStorage } from '../../src/observability/metrics.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { type BlobStat, type StorageDriver, StorageNotFoundError, type UploadStat } from '../../src/storage/driver.ts';

/** A tiny in-memory StorageDriver; #private state proves the wrapper calls through to the real object. */
class MemoryDriver implements StorageDriver {
  readonly name = 'memory';
  readonly #blobs = new Map<string, Buffer>();
  readonly #uploads = new Map<string, Buffer>();

  get blobCount(): number {
    return this.#blobs.size;
  }

  async statBlob(digest: Digest): Promise<BlobStat | undefined> {
    const blob = this.#blobs.get(digest);
    return blob ? { size: blob.length, modifiedAt: new Date(0) } : undefined;
  }
  async readBlob(digest: Digest): Promise<Readable> {
    const blob = this.#blobs.get(digest);
    if (!blob) throw new StorageNotFoundError(`blob ${digest}`);
    return Readable.from([blob]);
  }
  async deleteBlob(digest: Digest): Promise<boolean> {
    return this.#blobs.delete(digest);
  }
  async *listBlobs(): AsyncIterable<Digest> {
    for (const digest of this.#blobs.keys()) yield digest as Digest;
  }
  async blobRedirectURL(): Promise<string | undefined> {
    return undefined;
  }
  async startUpload(id: string): Promise<void> {
    this.#uploads.set(id, Buffer.alloc(0));
  }
  async appendUpload(id: string, _offset: number, source: Readable): Promise<number> {
    const parts = [this.#uploads.get(id) ?? Buffer.alloc(0)];
    for await (const chunk of source) parts.push(Buffer.from(chunk as Uint8Array));
    const joined = Buffer.concat(parts);
    this.#uploads.set(id, joined);
    return joined.length;
  }
  async statUpload(id: string): Promise<UploadStat | undefined> {
    const upload = this.#uploads.get(id);
    return upload ? { size: upload.length, startedAt: new Date(0) } : undefined;
  }
  async readUpload(id: string): Promise<Readable> {
    return Readable.from([this.#uploads.get(id) ?? Buffer.alloc(0)]);
  }
  async commitUpload(id: string, digest: Digest): Promise<void> {
    this.#blobs.set(digest, this.#uploads.get(id) ?? Buffer.alloc(0));
    this.#uploads.delete(id);
  }
  async cancelUpload(id: string): Promise<void> {
    this.#uploads.delete(id);
  }
  async *listUploads(): AsyncIterable<string> {
    yield* this.#uploads.keys();
  }
  async ping(): Promise<void> {}
}

const digestA = `sha256:${'a'.repeat(64)}` as Digest;
const digestB = `sha256:${'b'.repeat(64)}` as Digest;
const uploadId = '0b6f1c2e-8a4d-4c1e-9f3a-1234567890ab';

function line(text: string, series: string): string | undefined {
  return text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
}

describe('instrumentStorage', () => {
  test('counts and times every action under driver and action labels', async () => {
    const metrics = createMetrics();
    const driver = instrumentStorage(new MemoryDriver(), metrics);

    await driver.startUpload(uploadId);
    assert.equal(await driver.appendUpload(uploadId, 0, Readable.from([Buffer.from('hello')])), 5);
    await driver.commitUpload(uploadId, digestA);
    assert.deepEqual(await driver.statBlob(digestA), { size: 5, modifiedAt: new Date(0) });
    assert.equal(await driver.statBlob(digestB), undefined);
    await assert.rejects(driver.readBlob(digestB), StorageNotFoundError);

    const listed: string[] = [];
    for await (const digest of driver.listBlobs()) listed.push(digest);
    assert.deepEqual(listed, [digestA]);

    const text = await metrics.render();
    const total = (action: string) => line(text, `registry_storage_action_total{driver="memory",action="${action}"}`);
    assert.equal(total('startUpload'), 'registry_storage_action_total{driver="memory",action="startUpload"} 1');
    assert.equal(total('appendUpload'), 'registry_storage_action_total{driver="memory",action="appendUpload"} 1');
    assert.equal(total('commitUpload'), 'registry_storage_action_total{driver="memory",action="commitUpload"} 1');
    assert.equal(total('statBlob'), 'registry_storage_action_total{driver="memory",action="statBlob"} 2');
    // Failed actions count too: an error rate needs them in the denominator.
    assert.equal(total('readBlob'), 'registry_storage_action_total{driver="memory",action="readBlob"} 1');
    // A listing is one action however many items it yields.
    assert.equal(total('listBlobs'), 'registry_storage_action_total{driver="memory",action="listBlobs"} 1');
    assert.equal(total('ping'), undefined);

    assert.equal(
      line(text, 'registry_storage_action_seconds_count{driver="memory",action="statBlob"}'),
      'registry_storage_action_seconds_count{driver="memory",action="statBlob"} 2',
    );
    assert.equal(
      line(text, 'registry_storage_action_seconds_count{driver="memory",action="listBlobs"}'),
      'registry_storage_action_seconds_count{driver="memory",action="listBlobs"} 1',
    );
  });

  test('a listing abandoned early is still timed once', async () => {
    const metrics = createMetrics();
    const driver = instrumentStorage(new MemoryDriver(), metrics);
    await driver.startUpload(uploadId);
    await driver.startUpload('1b6f1c2e-8a4d-4c1e-9f3a-1234567890ab');
    for await (const id of driver.listUploads()) {
      assert.equal(id, uploadId);
      break;
    }
    const text = await metrics.render();
    assert.equal(
      line(text, 'registry_storage_action_seconds_count{driver="memory",action="listUploads"}'),
      'registry_storage_action_seconds_count{driver="memory",action="listUploads"} 1',
    );
  });

  test('the wrapped driver keeps its name, own members and type', async () => {
    const metrics = createMetrics();
    const inner = new MemoryDriver();
    const driver = instrumentStorage(inner, metrics);
    assert.equal(driver.name, 'memory');
    assert.equal(driver.statBlob, driver.statBlob, 'method identity is stable');
    await driver.startUpload(uploadId);
    await driver.commitUpload(uploadId, digestB);
    assert.equal(driver.blobCount, 1);
    assert.equal(inner.blobCount, 1);
  });
});
