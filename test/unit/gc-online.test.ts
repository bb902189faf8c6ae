import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { claimBlobs, claimOrphans, deleteBlobBytes, forgetBlobs } from '../../src/gc/blob-collection.ts';
import { gcChangeListener } from '../../src/gc/gc-change-listener.ts';
import { OnlineCollector } from '../../src/gc/online-collector.ts';
import { reviewSettingsOf } from '../../src/gc/review-settings.ts';
import { MetadataStore } from '../../src/metadata/metadata-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { RegistryService } from '../../src/registry/registry-service.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';

const logger = createLogger({ level: 'error', formatter: 'json', fields: {} });

interface Harness {
  metadata: MetadataStore;
  storage: FilesystemDriver;
  registry: RegistryService;
  collector: OnlineCollector;
  close(): Promise<void>;
}

async function harness(options: { deleteUntagged?: boolean; reviewAfterMs?: number } = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'wharf-gc-unit-'));
  const storage = new FilesystemDriver(root);
  await storage.init();
  const metadata = new MetadataStore(await openSqlite(':memory:'));
  const gc = {
    enabled: true,
    workers: 1,
    interval: 1000,
    reviewafter: options.reviewAfterMs ?? 0,
    eventreviewafter: {},
    deleteuntagged: options.deleteUntagged ?? false,
  };
  metadata.addChangeListener(gcChangeListener(reviewSettingsOf(gc), storage));
  const registry = new RegistryService(storage, metadata, { deleteEnabled: true, readOnly: false });
  const collector = new OnlineCollector(
    metadata,
    storage,
    { workers: 1, intervalMs: 1000, deleteUntagged: gc.deleteuntagged },
    logger,
  );
  return {
    metadata,
    storage,
    registry,
    collector,
    close: async () => {
      await metadata.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

function blob(size = 64): { bytes: Buffer; digest: Digest } {
  const bytes = randomBytes(size);
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest };
}

function imageManifest(config: Digest, layers: Digest[], subject?: Digest): Buffer {
  const descriptor = (digest: Digest, mediaType: string) => ({ mediaType, digest, size: 64 });
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor(config, 'application/vnd.oci.image.config.v1+json'),
      layers: layers.map((layer) => descriptor(layer, 'application/vnd.oci.image.layer.v1.tar')),
      ...(subject ? { subject: descriptor(subject, 'application/vnd.oci.image.manifest.v1+json') } : {}),
    }),
  );
}

async function push(h: Harness, repository: string, content: { bytes: Buffer; digest: Digest }): Promise<void> {
  await h.registry.pushBlob(repository, content.digest, Readable.from([content.bytes]), content.bytes.length);
}

/** Runs the collector until nothing is due. */
async function collectAll(h: Harness): Promise<{ blobs: number; manifests: number }> {
  const total = { blobs: 0, manifests: 0 };
  for (let run = 0; run < 20; run++) {
    const outcome = await h.collector.runOnce();
    total.blobs += outcome.blobsDeleted;
    total.manifests += outcome.manifestsDeleted;
    if (outcome.reviewed === 0) return total;
  }
  throw new Error('the collector kept finding due reviews');
}

async function reviewRows(h: Harness) {
  return h.metadata.db.selectFrom('gc_blob_reviews').selectAll().orderBy('digest').execute();
}

test('an unreferenced blob is collected when its review is due; referenced blobs stay', async () => {
  const h = await harness();
  try {
    const [config, layer, stray] = [blob(), blob(), blob()];
    for (const content of [config, layer, stray]) await push(h, 'app/web', content);
    await h.registry.putManifest('app/web', 'v1', imageManifest(config.digest, [layer.digest]), undefined);

    assert.deepEqual(await collectAll(h), { blobs: 1, manifests: 0 });
    assert.equal(await h.storage.statBlob(stray.digest), undefined, 'the stray blob is gone from storage');
    assert.equal(await h.metadata.findRepositoryBlob('app/web', stray.digest), undefined);
    assert.equal(
      await h.metadata.db.selectFrom('blobs').select('digest').where('digest', '=', stray.digest).executeTakeFirst(),
      undefined,
    );
    for (const kept of [config, layer]) {
      assert.equal((await h.storage.statBlob(kept.digest))?.size, 64);
      assert.equal(await h.metadata.findRepositoryBlob('app/web', kept.digest), 64);
    }
    assert.deepEqual(await reviewRows(h), [], 'every review was answered');

    // Deleting the manifest orphans its blobs; the next runs collect them.
    await h.registry.deleteManifest('app/web', 'v1');
    const manifestDigest = `sha256:${createHash('sha256')
      .update(imageManifest(config.digest, [layer.digest]))
      .digest('hex')}`;
    await h.registry.deleteManifest('app/web', manifestDigest);
    assert.deepEqual(await collectAll(h), { blobs: 2, manifests: 0 });
    assert.equal(await h.storage.statBlob(layer.digest), undefined);
  } finally {
    await h.close();
  }
});

test('a blob queued many times has one review, due at the latest time asked', async () => {
  const h = await harness({ reviewAfterMs: 60_000 });
  try {
    const layer = blob();
    await push(h, 'app/web', layer);
    const [first] = await reviewRows(h);
    await push(h, 'app/web', layer);
    await push(h, 'app/other', layer);
    const rows = await reviewRows(h);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.event, 'blob.committed');
    assert.ok(Number(rows[0]?.review_after) >= Number(first?.review_after));
    assert.deepEqual(await collectAll(h), { blobs: 0, manifests: 0 }, 'not due yet');
    assert.equal((await h.storage.statBlob(layer.digest))?.size, 64);
  } finally {
    await h.close();
  }
});

test('while a blob is being deleted, pushes that would reference it are refused', async () => {
  const h = await harness({ reviewAfterMs: 60_000 });
  try {
    const [config, layer] = [blob(), blob()];
    await push(h, 'app/web', config);
    await push(h, 'app/web', layer);
    const claimed = await h.metadata.writeWithChanges((trx) => claimBlobs(trx, [layer.digest], Date.now()));
    assert.deepEqual(
      claimed.garbage.map((entry) => entry.digest),
      [layer.digest],
    );

    await assert.rejects(
      h.registry.putManifest('app/web', 'v1', imageManifest(config.digest, [layer.digest]), undefined),
      (error: { code?: string }) => error.code === 'MANIFEST_BLOB_UNKNOWN',
    );
    await assert.rejects(push(h, 'app/web', layer), (error: { code?: string; status?: number }) => {
      return error.code === 'UNAVAILABLE' && error.status === 503;
    });
    assert.equal(await h.registry.mountBlob('app/other', layer.digest, 'app/web'), undefined, 'no mount');
    assert.equal(await h.metadata.findRepositoryBlob('app/web', layer.digest), undefined, 'HEAD says unknown');

    const { deleted } = await deleteBlobBytes(h.storage, claimed.garbage);
    await h.metadata.writeWithChanges((trx, report) =>
      forgetBlobs(
        trx,
        report,
        deleted.map((entry) => entry.digest),
      ),
    );

    // Once the deletion is over, the same push goes through and keeps its bytes.
    await push(h, 'app/web', layer);
    await h.registry.putManifest('app/web', 'v1', imageManifest(config.digest, [layer.digest]), undefined);
    assert.equal((await h.storage.statBlob(layer.digest))?.size, 64);
  } finally {
    await h.close();
  }
});

test('an upload whose bytes a collection deleted after they were moved into place is refused', async () => {
  const h = await harness();
  try {
    const layer = blob();
    await push(h, 'app/web', layer);
    // A second upload of the same bytes reaches storage while the blob is claimed: the storage keeps
    // the copy it has (about to be deleted) and drops this one's.
    const claimed = await h.metadata.writeWithChanges((trx) => claimBlobs(trx, [layer.digest], Date.now()));
    const id = '0b5f4a8e-7a52-4e6c-9a39-5d0d2c4f1a77';
    await h.storage.startUpload(id);
    await h.storage.appendUpload(id, 0, Readable.from([layer.bytes]));
    await h.storage.commitUpload(id, layer.digest);
    await deleteBlobBytes(h.storage, claimed.garbage);
    await h.metadata.writeWithChanges((trx, report) => forgetBlobs(trx, report, [layer.digest]));
    // Its metadata commit now finds no row (new in the registry) and no bytes.
    await assert.rejects(h.metadata.commitBlob('app/web', layer.digest, 64), (error: { code?: string }) => {
      return error.code === 'UNAVAILABLE';
    });
    assert.equal(await h.metadata.findRepositoryBlob('app/web', layer.digest), undefined);
  } finally {
    await h.close();
  }
});

test('blob files no row describes are claimed as orphans, unless a row appears first', async () => {
  const h = await harness({ reviewAfterMs: 60_000 });
  try {
    const [orphan, known] = [blob(), blob()];
    await push(h, 'app/web', known);
    const id = '1c6a5b9f-8b63-4f7d-8a4a-6e1e3d5f2b88';
    await h.storage.startUpload(id);
    await h.storage.appendUpload(id, 0, Readable.from([orphan.bytes]));
    await h.storage.commitUpload(id, orphan.digest);

    const claimed = await h.metadata.writeWithChanges((trx) =>
      claimOrphans(
        trx,
        [
          { digest: orphan.digest, size: 64 },
          { digest: known.digest, size: 64 },
        ],
        Date.now(),
      ),
    );
    assert.deepEqual(
      claimed.map((entry) => entry.digest),
      [orphan.digest],
    );
    await deleteBlobBytes(h.storage, claimed);
    await h.metadata.writeWithChanges((trx, report) => forgetBlobs(trx, report, [orphan.digest]));
    assert.equal(await h.storage.statBlob(orphan.digest), undefined);
    assert.equal((await h.storage.statBlob(known.digest))?.size, 64);
    assert.equal(await h.metadata.findRepositoryBlob('app/web', known.digest), 64);
  } finally {
    await h.close();
  }
});

test('gc.deleteuntagged collects untagged manifests but keeps referrers of a live subject and children of a tagged index', async () => {
  const h = await harness({ deleteUntagged: true });
  try {
    const [config, layer, sigConfig, sigLayer] = [blob(), blob(), blob(), blob()];
    for (const content of [config, layer, sigConfig, sigLayer]) await push(h, 'app/web', content);
    const image = imageManifest(config.digest, [layer.digest]);
    const { digest: imageDigest } = await h.registry.putManifest('app/web', 'v1', image, undefined);
    const signature = imageManifest(sigConfig.digest, [sigLayer.digest], imageDigest);
    const { digest: signatureDigest } = await h.registry.putManifest(
      'app/web',
      `sha256:${createHash('sha256').update(signature).digest('hex')}`,
      signature,
      undefined,
    );
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: imageDigest, size: image.length },
        ],
      }),
    );
    await h.registry.putManifest('app/web', 'multi', index, 'application/vnd.oci.image.index.v1+json');

    // v1 moves away: the image stays, listed by the tagged index; its signature stays with it.
    await h.registry.putManifest('app/web', 'v1', index, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(await collectAll(h), { blobs: 0, manifests: 0 });
    assert.ok(await h.metadata.findManifestByDigest('app/web', imageDigest));
    assert.ok(await h.metadata.findManifestByDigest('app/web', signatureDigest));

    // Without tags the index goes, then the image it listed, then the signature of that image,
    // then every blob.
    await h.registry.deleteManifest('app/web', 'multi');
    await h.registry.deleteManifest('app/web', 'v1');
    assert.deepEqual(await collectAll(h), { blobs: 4, manifests: 3 });
    assert.equal(await h.metadata.findManifestByDigest('app/web', imageDigest), undefined);
    assert.equal(await h.metadata.findManifestByDigest('app/web', signatureDigest), undefined);
    for (const content of [config, layer, sigConfig, sigLayer]) {
      assert.equal(await h.storage.statBlob(content.digest), undefined);
    }
  } finally {
    await h.close();
  }
});

test('deleting a repository queues its blobs; those no other repository references are collected', async () => {
  const h = await harness();
  try {
    const [config, own, shared] = [blob(), blob(), blob()];
    for (const content of [config, own, shared]) await push(h, 'app/gone', content);
    await h.registry.putManifest(
      'app/gone',
      'v1',
      imageManifest(config.digest, [own.digest, shared.digest]),
      undefined,
    );
    const [otherConfig] = [blob()];
    await push(h, 'app/kept', otherConfig);
    await push(h, 'app/kept', shared);
    await h.registry.putManifest('app/kept', 'v1', imageManifest(otherConfig.digest, [shared.digest]), undefined);
    await collectAll(h);

    assert.ok(await h.metadata.deleteRepository('app/gone'));
    assert.deepEqual(await collectAll(h), { blobs: 2, manifests: 0 });
    assert.equal(await h.storage.statBlob(config.digest), undefined);
    assert.equal(await h.storage.statBlob(own.digest), undefined);
    assert.equal(await h.metadata.findRepositoryBlob('app/kept', shared.digest), 64);
    assert.equal((await h.storage.statBlob(shared.digest))?.size, 64);
  } finally {
    await h.close();
  }
});

test('the review queue gauges report depth, due reviews and the age of the oldest', async () => {
  const h = await harness({ reviewAfterMs: 60_000 });
  try {
    const metrics = createMetrics();
    const collector = new OnlineCollector(
      h.metadata,
      h.storage,
      { workers: 1, intervalMs: 1000, deleteUntagged: false },
      logger,
      metrics.gc,
    );
    for (const content of [blob(), blob(), blob()]) await push(h, 'app/web', content);
    const now = Date.now();
    await collector.reportQueues(now);
    let text = await metrics.render();
    assert.match(text, /^wharf_gc_review_queue_depth\{queue="blob"\} 3$/m);
    assert.match(text, /^wharf_gc_review_queue_due\{queue="blob"\} 0$/m);
    assert.match(text, /^wharf_gc_review_queue_oldest_due_age_seconds\{queue="blob"\} 0$/m);

    // Two minutes later every review is due, the oldest for a little over a minute.
    await collector.reportQueues(now + 120_000);
    text = await metrics.render();
    assert.match(text, /^wharf_gc_review_queue_due\{queue="blob"\} 3$/m);
    const age = Number(/^wharf_gc_review_queue_oldest_due_age_seconds\{queue="blob"\} (\S+)$/m.exec(text)?.[1]);
    assert.ok(age >= 60 && age <= 65, `oldest due review waited ${age} s`);

    const run = await collector.runOnce(now + 120_000);
    assert.deepEqual(
      { reviewed: run.reviewed, blobsDeleted: run.blobsDeleted, bytesDeleted: run.bytesDeleted },
      { reviewed: 3, blobsDeleted: 3, bytesDeleted: 192 },
    );
    text = await metrics.render();
    assert.match(text, /^wharf_gc_runs_total 1$/m);
    assert.match(text, /^wharf_gc_blobs_deleted_total 3$/m);
    assert.match(text, /^wharf_gc_bytes_deleted_total 192$/m);
  } finally {
    await h.close();
  }
});
