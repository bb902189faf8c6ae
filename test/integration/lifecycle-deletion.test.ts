import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  addMember,
  api,
  assertSameImage,
  basicOf,
  type Credentials,
  call,
  createProject,
  createUser,
  credsFlag,
} from '../helpers/auth.ts';
import { buildImageLayout } from '../helpers/images.ts';
import {
  assertUsageExact,
  catalogOf,
  firstError,
  layer,
  projectUsage,
  push,
  sizedImage,
  tagsOf,
} from '../helpers/lifecycle.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const admin: Credentials = { username: 'admin', password: 'first-admin-password' };
const maria: Credentials = { username: 'maria', password: 'maria-password-1' };
const dev: Credentials = { username: 'dev', password: 'dev-password-1' };

/** Deleting repositories and projects through the management API, and what /v2/ deletes still do. */
describe('deletion', () => {
  let wharf: WharfProcess;
  let work: string;

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    work = await mkdtemp(join(tmpdir(), 'wharf-lifecycle-deletion-'));
    await createUser(wharf.url, admin, maria);
    await createUser(wharf.url, admin, dev);
    await createProject(wharf.url, admin, 'team');
    await addMember(wharf.url, admin, 'team', maria.username, 'maintainer');
    await addMember(wharf.url, admin, 'team', dev.username, 'developer');
  });

  after(async () => {
    await wharf?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('deletes a repository with its artifacts; it leaves the catalog at once', async () => {
    const shared = layer(4096);
    const v1 = sizedImage([shared, layer(1000)]);
    const v2 = sizedImage([shared]);
    await push(wharf.url, 'team/app/api', 'v1', v1, admin);
    await push(wharf.url, 'team/app/api', 'v2', v2, admin);
    const layout = join(work, 'lint');
    const image = await buildImageLayout(layout, { tag: 'v1', layers: [{ files: { 'bin/lint': 'echo lint\n' } }] });
    await skopeo([
      'copy',
      '--dest-creds',
      credsFlag(admin),
      `oci:${layout}:v1`,
      `docker://${wharf.host}/team/tools/lint:v1`,
    ]);
    assert.deepEqual(await catalogOf(wharf.url, admin), ['team/app/api', 'team/tools/lint']);
    const before = await projectUsage(wharf.url, 'team', admin);

    const listed = await api(wharf.url, 'GET', '/projects/team/repositories', { as: dev });
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get('x-total-count'), '2');
    const names = listed.json<{ name: string; artifact_count: number; tag_count: number }[]>();
    assert.deepEqual(
      names.map((entry) => [entry.name, entry.artifact_count, entry.tag_count]),
      [
        ['team/app/api', 2, 2],
        ['team/tools/lint', 1, 1],
      ],
    );
    const artifacts = await api(wharf.url, 'GET', '/projects/team/repositories/app%2Fapi/artifacts', { as: dev });
    assert.equal(artifacts.status, 200);
    assert.deepEqual(
      artifacts
        .json<{ digest: string; tags: string[]; size: number }[]>()
        .map((entry) => [entry.digest, entry.tags, entry.size]),
      [
        [v2.digest, ['v2'], v2.manifest.length],
        [v1.digest, ['v1'], v1.manifest.length],
      ],
    );

    const refused = await api(wharf.url, 'DELETE', '/projects/team/repositories/app%2Fapi', { as: dev });
    assert.equal(refused.status, 403);
    assert.deepEqual(firstError(refused), {
      code: 'DENIED',
      message: 'you may not delete repositories of project team',
    });

    const deleted = await api(wharf.url, 'DELETE', '/projects/team/repositories/app%2Fapi', { as: maria });
    assert.equal(deleted.status, 204, deleted.text());
    assert.deepEqual(await catalogOf(wharf.url, admin), ['team/tools/lint']);
    const manifest = await call(wharf.url, 'GET', `/v2/team/app/api/manifests/${v1.digest}`, basicOf(admin));
    assert.equal(manifest.status, 404);
    assert.equal(firstError(manifest).code, 'MANIFEST_UNKNOWN');
    const tags = await call(wharf.url, 'GET', '/v2/team/app/api/tags/list', basicOf(admin));
    assert.equal(tags.status, 404);
    assert.equal(firstError(tags).code, 'NAME_UNKNOWN');
    const blob = await call(wharf.url, 'GET', `/v2/team/app/api/blobs/${v1.digest}`, basicOf(admin));
    assert.equal(blob.status, 404);

    const again = await api(wharf.url, 'DELETE', '/projects/team/repositories/app%2Fapi', { as: maria });
    assert.equal(again.status, 404);
    assert.deepEqual(firstError(again), {
      code: 'NAME_UNKNOWN',
      message: 'repository "team/app/api" is not known to the registry',
      detail: { name: 'team/app/api' },
    });
    const gone = await api(wharf.url, 'GET', '/projects/team/repositories/app%2Fapi', { as: maria });
    assert.equal(gone.status, 404);
    assert.equal(firstError(gone).message, 'repository team/app/api does not exist');

    const after = await projectUsage(wharf.url, 'team', admin);
    assert.deepEqual(after, {
      bytes: before.bytes - v1.bytes - v2.bytes + shared.length,
      artifacts: before.artifacts - 2,
    });
    await assertUsageExact(wharf.url, admin, 'team');

    // The other repository is untouched, and a push recreates the deleted one from nothing.
    const pulled = join(work, 'pulled');
    await skopeo([
      'copy',
      '--src-creds',
      credsFlag(admin),
      `docker://${wharf.host}/team/tools/lint:v1`,
      `oci:${pulled}:v1`,
    ]);
    await assertSameImage(pulled, 'v1', image);
    await push(wharf.url, 'team/app/api', 'v3', sizedImage([layer(100)]), admin);
    assert.deepEqual(await tagsOf(wharf.url, 'team/app/api', admin), ['v3']);
  });

  it('still deletes tags and manifests through /v2/', async () => {
    const image = sizedImage([layer(500)]);
    await push(wharf.url, 'team/web', 'v1', image, admin);
    await push(wharf.url, 'team/web', 'latest', image, admin);
    const untag = await call(wharf.url, 'DELETE', '/v2/team/web/manifests/latest', basicOf(maria));
    assert.equal(untag.status, 202);
    assert.deepEqual(await tagsOf(wharf.url, 'team/web', admin), ['v1']);
    assert.equal((await projectUsage(wharf.url, 'team', admin)).artifacts, 3, 'the manifest stays');
    const remove = await call(wharf.url, 'DELETE', `/v2/team/web/manifests/${image.digest}`, basicOf(maria));
    assert.equal(remove.status, 202);
    assert.deepEqual(await tagsOf(wharf.url, 'team/web', admin), []);
    assert.ok(!(await catalogOf(wharf.url, admin)).includes('team/web'));
    await assertUsageExact(wharf.url, admin, 'team');
  });

  it('deletes an empty project, and a project holding repositories only with force=true', async () => {
    await createProject(wharf.url, admin, 'empty');
    assert.equal((await api(wharf.url, 'DELETE', '/projects/empty', { as: admin })).status, 204);

    await createProject(wharf.url, admin, 'full');
    await push(wharf.url, 'full/one', 'v1', sizedImage([layer(300)]), admin);
    await push(wharf.url, 'full/two/deep', 'v1', sizedImage([layer(300)]), admin);
    const rules = await api(wharf.url, 'POST', '/projects/full/immutability-rules', {
      as: admin,
      body: { tags: { pattern: 'never' } },
    });
    assert.equal(rules.status, 201);
    const refused = await api(wharf.url, 'DELETE', '/projects/full', { as: admin });
    assert.equal(refused.status, 412);
    assert.deepEqual(firstError(refused), {
      code: 'DENIED',
      message: 'project full still holds 2 repositories; delete them first or add ?force=true',
    });

    const forced = await api(wharf.url, 'DELETE', '/projects/full?force=true', { as: admin });
    assert.equal(forced.status, 204, forced.text());
    assert.ok(!(await catalogOf(wharf.url, admin)).some((name) => name.startsWith('full/')));
    assert.equal((await api(wharf.url, 'GET', '/projects/full', { as: admin })).status, 404);

    // A project of the same name starts with nothing of the old one.
    await createProject(wharf.url, admin, 'full');
    assert.deepEqual(await projectUsage(wharf.url, 'full', admin), { bytes: 0, artifacts: 0 });
    assert.deepEqual((await api(wharf.url, 'GET', '/projects/full/immutability-rules', { as: admin })).json(), []);
  });

  it('keeps a project whose repositories an immutable tag protects, naming them all and deleting the rest', async () => {
    await createProject(wharf.url, admin, 'locked');
    const release = sizedImage([layer(200)]);
    const later = sizedImage([layer(200)]);
    await push(wharf.url, 'locked/app', 'v1', release, admin);
    await push(wharf.url, 'locked/other', 'latest', sizedImage([layer(200)]), admin);
    await push(wharf.url, 'locked/zeta', 'v2', later, admin);
    const rule = await api(wharf.url, 'POST', '/projects/locked/immutability-rules', {
      as: admin,
      body: { tags: { pattern: 'v*' } },
    });
    const { id } = rule.json<{ id: number }>();
    const refused = await api(wharf.url, 'DELETE', '/projects/locked?force=true', { as: admin });
    assert.equal(refused.status, 403);
    const because = (repository: string, tag: string, digest: string) =>
      `tag ${repository}:${tag} is immutable by immutability rule ${id} (repositories matching "**", tags matching "v*"); manifest ${digest} it names cannot be deleted`;
    assert.equal(
      firstError(refused).message,
      `project locked keeps 2 repositories an immutable tag protects (the other 1 was deleted): ${because('locked/app', 'v1', release.digest)}; ${because('locked/zeta', 'v2', later.digest)}`,
    );
    assert.deepEqual(firstError(refused).detail, {
      project: 'locked',
      repositories: ['locked/app', 'locked/zeta'],
    });
    assert.equal((await api(wharf.url, 'GET', '/projects/locked', { as: admin })).status, 200);
    assert.deepEqual(await tagsOf(wharf.url, 'locked/app', admin), ['v1']);
    assert.deepEqual(await tagsOf(wharf.url, 'locked/zeta', admin), ['v2']);
    assert.ok(!(await catalogOf(wharf.url, admin)).includes('locked/other'), 'the unprotected repository is deleted');
  });
});

describe('deletion with storage.delete.enabled false', () => {
  it('refuses repository deletion as /v2/ deletes are refused', async () => {
    const wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password, REGISTRY_STORAGE_DELETE_ENABLED: 'false' },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    try {
      await createProject(wharf.url, admin, 'team');
      await push(wharf.url, 'team/app', 'v1', sizedImage([layer(100)]), admin);
      const refused = await api(wharf.url, 'DELETE', '/projects/team/repositories/app', { as: admin });
      assert.equal(refused.status, 405);
      assert.deepEqual(firstError(refused), {
        code: 'UNSUPPORTED',
        message: 'deletes are disabled (storage.delete.enabled)',
      });
      assert.deepEqual(await catalogOf(wharf.url, admin), ['team/app']);
    } finally {
      await wharf.close();
    }
  });
});
