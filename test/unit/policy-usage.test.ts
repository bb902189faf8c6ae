import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetadataChange } from '../../src/metadata/metadata-changes.ts';
import { MetadataStore, type NewManifestRecord } from '../../src/metadata/metadata-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { ProjectStore } from '../../src/metadata/project-store.ts';
import { RegistryError } from '../../src/oci/errors.ts';
import { immutabilityGuard } from '../../src/policy/immutability/immutability-guard.ts';
import { ImmutabilityRules } from '../../src/policy/immutability/immutability-rules.ts';
import { Quotas } from '../../src/policy/quota/quotas.ts';
import { usageLedger } from '../../src/policy/quota/usage-ledger.ts';
import { projectScope, registryScope } from '../../src/policy/quota/usage-scope.ts';

const digest = (char: string) => `sha256:${char.repeat(64)}`;
const [layerA, layerB, layerC] = [digest('a'), digest('b'), digest('c')];

async function openStore(registryQuotaBytes?: number) {
  const store = new MetadataStore(await openSqlite(':memory:'));
  const immutability = new ImmutabilityRules(store.db);
  store.addChangeListener(immutabilityGuard(immutability));
  store.addChangeListener(usageLedger({ registryQuotaBytes }));
  const projects = new ProjectStore(store.db);
  const quotas = new Quotas(store.db, registryQuotaBytes);
  return { store, projects, quotas, immutability };
}

function manifest(repository: string, name: string, blobs: string[], tag?: string): NewManifestRecord {
  const payload = Buffer.from(JSON.stringify({ name, blobs }));
  return {
    repository,
    digest: `sha256:${Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64)}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: undefined,
    payload,
    subjectDigest: undefined,
    annotations: undefined,
    blobDigests: blobs,
    childDigests: [],
    tag,
  };
}

async function refusal(work: Promise<unknown>): Promise<RegistryError> {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof RegistryError, `expected a RegistryError, got ${String(error)}`);
  return error;
}

describe('project usage', () => {
  it('counts each referenced blob once per project, and manifests per repository', async () => {
    const { store, quotas } = await openStore();
    await store.commitBlob('team/a', layerA, 1000);
    await store.commitBlob('team/a', layerB, 200);
    await store.linkExistingBlob('team/b', layerA);
    await store.commitBlob('team/b', layerC, 30);
    assert.deepEqual((await quotas.project('team')).used, { bytes: 0, artifacts: 0 }, 'blobs count once referenced');

    const one = manifest('team/a', 'one', [layerA, layerB], 'v1');
    const two = manifest('team/b', 'two', [layerA, layerC], 'v1');
    await store.putManifest(one);
    await store.putManifest(two);
    await store.putManifest(one);
    const both = one.payload.length + two.payload.length;
    assert.deepEqual((await quotas.project('team')).used, { bytes: 1230 + both, artifacts: 2 });

    assert.equal(await store.deleteManifest('team/a', one.digest), true);
    assert.deepEqual((await quotas.project('team')).used, { bytes: 1030 + two.payload.length, artifacts: 1 });
    assert.deepEqual(await quotas.recompute(projectScope('team')), {
      scope: 'project:team',
      before: { bytes: 1030 + two.payload.length, artifacts: 1 },
      after: { bytes: 1030 + two.payload.length, artifacts: 1 },
    });

    const changes: MetadataChange['type'][] = [];
    store.addChangeListener(async (_trx, change) => {
      changes.push(change.type);
    });
    assert.deepEqual(await store.deleteRepository('team/b'), {
      manifestDigests: [two.digest],
      blobDigests: [layerA, layerC],
    });
    assert.deepEqual(changes, ['manifest.deleted', 'repository.deleted']);
    assert.deepEqual((await quotas.project('team')).used, { bytes: 0, artifacts: 0 });
    assert.equal(await store.deleteRepository('team/b'), undefined);
    assert.equal(await store.repositoryExists('team/b'), false);
    await store.close();
  });

  it('starts a project it has not counted yet from what the project already holds', async () => {
    const store = new MetadataStore(await openSqlite(':memory:'));
    const quotas = new Quotas(store.db, undefined);
    await store.commitBlob('team/a', layerA, 500);
    const before = manifest('team/a', 'before', [layerA]);
    await store.putManifest(before);
    store.addChangeListener(usageLedger({ registryQuotaBytes: undefined }));
    await store.commitBlob('team/a', layerB, 70);
    const after = manifest('team/a', 'after', [layerA, layerB]);
    await store.putManifest(after);
    const expected = { bytes: 570 + before.payload.length + after.payload.length, artifacts: 2 };
    assert.deepEqual((await quotas.project('team')).used, expected);
    assert.deepEqual((await quotas.recompute(projectScope('team'))).before, expected);
    await store.close();
  });
});

describe('usage after writes of other layers', () => {
  it('releases a blob once when several manifests sharing it are deleted in one statement', async () => {
    const { store, quotas } = await openStore();
    await store.commitBlob('team/a', layerA, 1000);
    await store.commitBlob('team/a', layerB, 10);
    const one = manifest('team/a', 'one', [layerA]);
    const two = manifest('team/a', 'two', [layerA, layerB]);
    await store.putManifest(one);
    await store.putManifest(two);
    await store.writeWithChanges(async (trx, report) => {
      const rows = await trx.selectFrom('manifests').select(['id', 'digest', 'size']).execute();
      await trx
        .deleteFrom('manifests')
        .where(
          'id',
          'in',
          rows.map((row) => row.id),
        )
        .execute();
      for (const [row, record] of [
        [rows.find((each) => each.digest === one.digest), one],
        [rows.find((each) => each.digest === two.digest), two],
      ] as const) {
        assert.ok(row);
        await report({
          type: 'manifest.deleted',
          repository: 'team/a',
          digest: row.digest,
          mediaType: record.mediaType,
          size: Number(row.size),
          subjectDigest: undefined,
          tags: [],
          blobDigests: record.blobDigests,
          childDigests: [],
        });
      }
    });
    assert.deepEqual((await quotas.project('team')).used, { bytes: 0, artifacts: 0 });
    assert.deepEqual((await quotas.recompute(projectScope('team'))).before, { bytes: 0, artifacts: 0 });
    await store.close();
  });

  it('counts, at startup, projects whose usage was never recorded', async () => {
    const store = new MetadataStore(await openSqlite(':memory:'));
    const quotas = new Quotas(store.db, undefined);
    await store.commitBlob('old/a', layerA, 500);
    const before = manifest('old/a', 'before', [layerA]);
    await store.putManifest(before);
    assert.equal(await quotas.countUncounted(), 1);
    assert.equal(await quotas.countUncounted(), 0);
    assert.deepEqual((await quotas.recompute(projectScope('old'))).before, {
      bytes: 500 + before.payload.length,
      artifacts: 1,
    });
    await store.close();
  });
});

describe('quotas', () => {
  it('refuse a blob that alone exceeds the project quota, and a manifest that would', async () => {
    const { store, projects, quotas } = await openStore();
    await projects.createProject({ name: 'team', public: false, createdBy: 'admin' });
    await quotas.setProjectLimits('team', { bytes: 1500, artifacts: 2 });
    const tooLarge = await refusal(store.commitBlob('team/a', layerA, 1501));
    assert.equal(tooLarge.code, 'DENIED');
    assert.equal(tooLarge.status, 403);
    assert.equal(tooLarge.message, 'quota exceeded: used 0 of 1500 bytes in project team; this push needs 1501 more');
    assert.equal(await store.findBlob(layerA), undefined, 'the refused commit left nothing');

    await store.commitBlob('team/a', layerA, 1000);
    await store.commitBlob('team/a', layerB, 400);
    const first = manifest('team/a', 'first', [layerA]);
    await store.putManifest(first);
    const used = 1000 + first.payload.length;
    const second = manifest('team/a', 'second', [layerA, layerB], 'v2');
    const over = await refusal(store.putManifest(second));
    assert.equal(
      over.message,
      `quota exceeded: used ${used} of 1500 bytes in project team; this push needs ${400 + second.payload.length} more`,
    );
    assert.equal(await store.findManifestByTag('team/a', 'v2'), undefined, 'the refused manifest was not stored');
    assert.deepEqual((await quotas.project('team')).used, { bytes: used, artifacts: 1 });

    await quotas.setProjectLimits('team', { bytes: null });
    await store.putManifest(second);
    const third = manifest('team/a', 'third', [layerB]);
    const counted = await refusal(store.putManifest(third));
    assert.equal(counted.message, 'quota exceeded: used 2 of 2 artifacts in project team; this push needs 1 more');
    assert.equal(await store.deleteManifest('team/a', first.digest), true, 'deletes go through over quota');
    await store.close();
  });

  it('bound the registry with storage.quota, counting blobs shared across projects once', async () => {
    const { store, quotas } = await openStore(3000);
    await store.commitBlob('one/a', layerA, 1000);
    await store.putManifest(manifest('one/a', 'm1', [layerA]));
    await store.linkExistingBlob('two/a', layerA);
    await store.putManifest(manifest('two/a', 'm2', [layerA]));
    const registry = await quotas.registry();
    assert.equal(registry.limits.bytes, 3000);
    const manifests =
      manifest('one/a', 'm1', [layerA]).payload.length + manifest('two/a', 'm2', [layerA]).payload.length;
    assert.deepEqual(registry.used, { bytes: 1000 + manifests, artifacts: 2 });
    const refused = await refusal(store.commitBlob('three/a', layerB, 2000));
    assert.equal(
      refused.message,
      `quota exceeded: used ${1000 + manifests} of 3000 bytes in the registry (storage.quota); this push needs 2000 more`,
    );
    assert.equal((await quotas.recompute(registryScope)).before?.bytes, 1000 + manifests);
    await store.close();
  });
});

describe('immutability inside the write', () => {
  it('refuses a repository deletion that would remove an immutable tag, atomically', async () => {
    const { store, projects, immutability } = await openStore();
    const project = await projects.createProject({ name: 'team', public: false, createdBy: 'admin' });
    assert.ok(project);
    await store.commitBlob('team/a', layerA, 10);
    await store.putManifest(manifest('team/a', 'keep', [layerA], 'latest'));
    await store.putManifest(manifest('team/a', 'release', [layerA], 'v1'));
    await immutability.create(
      project.id,
      'team',
      {
        repositories: { pattern: '**', decoration: 'matches' },
        tags: { pattern: 'v*', decoration: 'matches' },
        disabled: false,
      },
      'admin',
    );
    const refused = await refusal(store.deleteRepository('team/a'));
    assert.equal(refused.code, 'DENIED');
    assert.match(refused.message, /^tag team\/a:v1 is immutable by immutability rule 1 /);
    assert.ok(await store.findManifestByTag('team/a', 'latest'), 'nothing of the repository went');
    await store.close();
  });
});
