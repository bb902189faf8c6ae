import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  buildImage,
  getBlob,
  getManifest,
  pullAndVerify,
  pushBlobMonolithic,
  pushImage,
  randomBlob,
  sha256,
} from '../helpers/push.ts';
import { startWharf } from '../helpers/wharf.ts';
import { runWharf } from '../helpers/wharf-cli.ts';

const KiB = 1024;

/** A blob file written straight into the storage directory, as a crash or a restored backup leaves it. */
async function writeOrphan(dataDir: string, size: number, ageMs: number): Promise<{ digest: string; path: string }> {
  const bytes = randomBytes(size);
  const digest = sha256(bytes);
  const hex = digest.slice('sha256:'.length);
  const directory = join(dataDir, 'blobs', 'sha256', hex.slice(0, 2));
  await mkdir(directory, { recursive: true });
  const path = join(directory, hex);
  await writeFile(path, bytes);
  const then = new Date(Date.now() - ageMs);
  await utimes(path, then, then);
  return { digest, path };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function blobPath(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

test('wharf gc reports, then deletes, what nothing references while the registry serves', {
  timeout: 90_000,
}, async () => {
  // The online collector is off, so everything below is left for `wharf gc` to find.
  const wharf = await startWharf({ env: { REGISTRY_GC_ENABLED: 'false' } });
  try {
    const env = { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: wharf.dataDir, REGISTRY_LOG_LEVEL: 'warn' };
    const shared = randomBlob(40 * KiB);
    const kept = buildImage([shared, randomBlob(30 * KiB)], 'kept');
    const dropped = buildImage([shared, randomBlob(20 * KiB)], 'dropped');
    await pushImage(wharf.url, 'team/app', 'v1', kept);
    await pushImage(wharf.url, 'team/app', 'v2', dropped);
    const deleteTag = await fetch(`${wharf.url}/v2/team/app/manifests/v2`, { method: 'DELETE' });
    assert.equal(deleteTag.status, 202);
    const stray = randomBlob(10 * KiB);
    await pushBlobMonolithic(wharf.url, 'team/app', stray);
    const oldOrphan = await writeOrphan(wharf.dataDir, 5 * KiB, 2 * 3_600_000);
    const freshOrphan = await writeOrphan(wharf.dataDir, 3 * KiB, 0);

    // Without --delete-untagged the untagged manifest keeps its blobs; the stray upload is within
    // the default grace of an hour. Only the old orphan would go.
    const dryRun = await runWharf(['gc', '--dry-run'], env);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    assert.match(dryRun.stdout, /would delete 0 untagged manifests\n/);
    assert.match(dryRun.stdout, /would delete 0 unreferenced blobs \(0 B\); kept 1 uploaded within the grace period/);
    assert.match(dryRun.stdout, /would delete 1 orphaned blob file \(5\.0 KiB\); kept 1 too recent to judge/);
    assert.ok(await exists(oldOrphan.path), 'a dry run deletes nothing');

    const droppedOnly = dropped.config.bytes.length + 20 * KiB;

    const run = await runWharf(['gc', '--delete-untagged', '--upload-grace', '0s'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /deleted 1 untagged manifest\n/);
    assert.match(run.stdout, /deleted 3 unreferenced blobs \(/);
    assert.match(run.stdout, /deleted 1 orphaned blob file \(5\.0 KiB\); kept 1 too recent/);
    assert.match(
      run.stdout,
      new RegExp(`deleted ${((droppedOnly + 10 * KiB + 5 * KiB) / KiB).toFixed(1)} KiB in total`),
    );

    await pullAndVerify(wharf.url, 'team/app', 'v1', kept);
    assert.equal((await getManifest(wharf.url, 'team/app', dropped.manifest.digest)).status, 404);
    for (const gone of [dropped.config, dropped.layers[1]!, stray]) {
      assert.equal((await getBlob(wharf.url, 'team/app', gone.digest)).status, 404, `${gone.digest} is unknown`);
      assert.equal(await exists(blobPath(wharf.dataDir, gone.digest)), false, `${gone.digest} left storage`);
    }
    assert.equal(await exists(oldOrphan.path), false, 'the old orphan file is gone');
    assert.equal(await exists(freshOrphan.path), true, 'a fresh file may be an upload committing now');

    // The blob the deleted image shared stays: the kept image references it.
    assert.equal(await exists(blobPath(wharf.dataDir, shared.digest)), true);

    // The deleted image can be pushed again: nothing is left marked.
    await pushImage(wharf.url, 'team/app', 'v3', dropped);
    await pullAndVerify(wharf.url, 'team/app', 'v3', dropped);
  } finally {
    await wharf.close();
  }
});

test('wharf gc exits with 2 on a configuration error', async () => {
  const result = await runWharf(['gc', '--dry-run'], { REGISTRY_GC_WORKERS: '0' });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /gc\.workers/);
});
