import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetadataChange } from '../../src/metadata/metadata-changes.ts';
import { MetadataStore } from '../../src/metadata/metadata-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { RegistryError } from '../../src/oci/errors.ts';

const blobA = `sha256:${'a'.repeat(64)}`;
const blobB = `sha256:${'b'.repeat(64)}`;
const manifestOne = `sha256:${'1'.repeat(64)}`;
const manifestTwo = `sha256:${'2'.repeat(64)}`;

async function storeWithLog(): Promise<{ store: MetadataStore; changes: MetadataChange[] }> {
  const store = new MetadataStore(await openSqlite(':memory:'));
  const changes: MetadataChange[] = [];
  store.addChangeListener(async (_trx, change) => {
    changes.push(change);
  });
  return { store, changes };
}

function manifest(digest: string, tag: string | undefined) {
  return {
    repository: 'app/web',
    digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: undefined,
    payload: Buffer.from(`{"d":"${digest}"}`),
    subjectDigest: undefined,
    annotations: undefined,
    blobDigests: [blobA, blobB],
    childDigests: [],
    tag,
  };
}

test('listeners see each write with what it changed', async () => {
  const { store, changes } = await storeWithLog();
  await store.commitBlob('app/web', blobA, 10);
  await store.commitBlob('app/web', blobA, 10);
  await store.commitBlob('app/web', blobB, 20);
  assert.equal(await store.linkExistingBlob('app/other', blobA), 10);
  await store.putManifest(manifest(manifestOne, 'latest'));
  await store.putManifest(manifest(manifestTwo, 'latest'));
  assert.equal(await store.deleteTag('app/web', 'latest'), true);
  assert.equal(await store.deleteTag('app/web', 'latest'), false);
  assert.equal(await store.deleteManifest('app/web', manifestOne), true);
  assert.equal(await store.unlinkBlob('app/other', blobA), true);

  assert.deepEqual(
    changes.map((change) => change.type),
    [
      'blob.committed',
      'blob.committed',
      'blob.committed',
      'blob.mounted',
      'manifest.stored',
      'manifest.stored',
      'tag.deleted',
      'manifest.deleted',
      'blob.unlinked',
    ],
  );
  const [first, again] = changes;
  assert.equal(first?.type === 'blob.committed' && first.newInRegistry && first.newInRepository, true);
  assert.equal(again?.type === 'blob.committed' && (again.newInRegistry || again.newInRepository), false);
  const moved = changes[5];
  assert.equal(moved?.type, 'manifest.stored');
  if (moved?.type === 'manifest.stored') {
    assert.deepEqual(moved.tag, { name: 'latest', previousDigest: manifestOne });
    assert.equal(moved.newInRepository, true);
  }
  const untagged = changes[6];
  assert.deepEqual(untagged, { type: 'tag.deleted', repository: 'app/web', tag: 'latest', digest: manifestTwo });
  const deleted = changes[7];
  assert.equal(deleted?.type === 'manifest.deleted' && deleted.blobDigests.length, 2);
  await store.close();
});

test('a listener that throws rolls the write back', async () => {
  const { store } = await storeWithLog();
  await store.commitBlob('app/web', blobA, 10);
  await store.commitBlob('app/web', blobB, 20);
  store.addChangeListener(async (_trx, change) => {
    if (change.type === 'manifest.stored') throw new RegistryError('DENIED', 'refused by policy');
  });
  await assert.rejects(store.putManifest(manifest(manifestOne, 'latest')), /refused by policy/);
  assert.equal(await store.findManifestByTag('app/web', 'latest'), undefined);
  assert.equal(await store.findManifestByDigest('app/web', manifestOne), undefined);
  await store.close();
});
