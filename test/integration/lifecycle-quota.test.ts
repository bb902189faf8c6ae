import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  addMember,
  api,
  basicOf,
  type Credentials,
  call,
  createProject,
  createUser,
  putManifestAs,
} from '../helpers/auth.ts';
import { sha256 } from '../helpers/http.ts';
import {
  assertUsageExact,
  firstError,
  layer,
  projectUsage,
  push,
  type SizedImage,
  sizedImage,
  tryPush,
  uploadBlob,
} from '../helpers/lifecycle.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const admin: Credentials = { username: 'admin', password: 'first-admin-password' };
const owner: Credentials = { username: 'owner', password: 'owner-password-1' };

async function setQuota(base: string, project: string, limits: { bytes?: number | null; artifacts?: number | null }) {
  const answer = await api(base, 'PUT', `/projects/${project}/quota`, { as: admin, body: limits });
  assert.equal(answer.status, 200, answer.text());
}

/** What an image adds to a project that already holds `shared`. */
function added(image: SizedImage, shared: Buffer): number {
  return image.bytes - (image.blobs.includes(shared) ? shared.length : 0);
}

describe('project quotas', () => {
  let wharf: WharfProcess;

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    await createUser(wharf.url, admin, owner);
    await createProject(wharf.url, admin, 'team');
    await addMember(wharf.url, admin, 'team', owner.username, 'projectAdmin');
  });

  after(async () => {
    await wharf?.close();
  });

  it('are set by system administrators and shown to members', async () => {
    const denied = await api(wharf.url, 'PUT', '/projects/team/quota', { as: owner, body: { bytes: 1 } });
    assert.equal(denied.status, 403);
    assert.deepEqual(firstError(denied), { code: 'DENIED', message: 'only system administrators may set quotas' });
    await setQuota(wharf.url, 'team', { bytes: 10_000_000, artifacts: 100 });
    const shown = await api(wharf.url, 'GET', '/projects/team/quota', { as: owner });
    assert.deepEqual(shown.json(), {
      limits: { bytes: 10_000_000, artifacts: 100 },
      used: { bytes: 0, artifacts: 0 },
    });
  });

  it('count a blob once per project however many repositories and manifests reference it', async () => {
    const shared = layer(50_000);
    const one = sizedImage([shared, layer(1000)]);
    const two = sizedImage([shared]);
    await push(wharf.url, 'team/a', 'v1', one, owner);
    await push(wharf.url, 'team/b/c', 'v1', two, owner);
    await push(wharf.url, 'team/b/c', 'again', two, owner);
    assert.deepEqual(await projectUsage(wharf.url, 'team', owner), {
      bytes: one.bytes + two.bytes - shared.length,
      artifacts: 2,
    });
    await assertUsageExact(wharf.url, admin, 'team');
    const metrics = await (await fetch(`${wharf.url}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`^wharf_project_storage_bytes\\{project="team"\\} ${one.bytes + two.bytes - shared.length}$`, 'm'),
    );
    assert.match(metrics, /^wharf_project_artifacts\{project="team"\} 2$/m);
    assert.match(metrics, /^wharf_project_quota_bytes\{project="team"\} 10000000$/m);
    assert.match(metrics, /^wharf_project_quota_artifacts\{project="team"\} 100$/m);
  });

  it('are not consumed by failed, cancelled or unfinished pushes', async () => {
    const before = await projectUsage(wharf.url, 'team', owner);
    const bytes = layer(5000);
    const started = await call(wharf.url, 'POST', '/v2/team/a/blobs/uploads/', basicOf(owner));
    const location = new URL(started.headers.get('location') ?? '', wharf.url);
    location.searchParams.set('digest', sha256(layer(10)));
    const mismatch = await call(wharf.url, 'PUT', `${location.pathname}${location.search}`, basicOf(owner), {
      body: bytes,
    });
    assert.equal(mismatch.status, 400);
    assert.equal(firstError(mismatch).code, 'DIGEST_INVALID');

    const cancelled = await call(wharf.url, 'POST', '/v2/team/a/blobs/uploads/', basicOf(owner));
    const upload = new URL(cancelled.headers.get('location') ?? '', wharf.url);
    const chunk = await call(wharf.url, 'PATCH', `${upload.pathname}${upload.search}`, basicOf(owner), { body: bytes });
    assert.equal(chunk.status, 202);
    const next = new URL(chunk.headers.get('location') ?? '', wharf.url);
    assert.equal((await call(wharf.url, 'DELETE', `${next.pathname}${next.search}`, basicOf(owner))).status, 204);

    const unfinished = sizedImage([layer(7000)]);
    for (const blob of unfinished.blobs) assert.equal((await uploadBlob(wharf.url, 'team/a', blob, owner)).status, 201);
    assert.deepEqual(await projectUsage(wharf.url, 'team', owner), before);
    await assertUsageExact(wharf.url, admin, 'team');
  });

  it('refuse the blob or the manifest that would exceed them, with what is used and allowed', async () => {
    await createProject(wharf.url, admin, 'small');
    await setQuota(wharf.url, 'small', { bytes: 20_000 });
    const tooLarge = layer(20_001);
    const refusedBlob = await uploadBlob(wharf.url, 'small/app', tooLarge, admin);
    assert.equal(refusedBlob.status, 403);
    assert.deepEqual(firstError(refusedBlob), {
      code: 'DENIED',
      message: 'quota exceeded: used 0 of 20000 bytes in project small; this push needs 20001 more',
      detail: { scope: 'small', resource: 'bytes', used: 0, limit: 20_000, needed: 20_001 },
    });

    const first = sizedImage([layer(12_000)]);
    await push(wharf.url, 'small/app', 'v1', first, admin);
    const second = sizedImage([layer(7000)]);
    for (const blob of second.blobs) assert.equal((await uploadBlob(wharf.url, 'small/app', blob, admin)).status, 201);
    await setQuota(wharf.url, 'small', { bytes: first.bytes + 7000 });
    const refusedManifest = await putManifestAs(wharf.url, 'small/app', 'v2', second.manifest, basicOf(admin));
    assert.equal(refusedManifest.status, 403);
    assert.equal(
      firstError(refusedManifest).message,
      `quota exceeded: used ${first.bytes} of ${first.bytes + 7000} bytes in project small; this push needs ${second.bytes} more`,
    );
    assert.deepEqual(await projectUsage(wharf.url, 'small', admin), { bytes: first.bytes, artifacts: 1 });

    await setQuota(wharf.url, 'small', { bytes: null, artifacts: 1 });
    const refusedCount = await putManifestAs(wharf.url, 'small/app', 'v2', second.manifest, basicOf(admin));
    assert.equal(refusedCount.status, 403);
    assert.equal(
      firstError(refusedCount).message,
      'quota exceeded: used 1 of 1 artifacts in project small; this push needs 1 more',
    );
    // Pushing what the project holds already adds nothing, and is not refused.
    assert.equal((await putManifestAs(wharf.url, 'small/app', 'latest', first.manifest, basicOf(admin))).status, 201);
  });

  it('hold exactly under concurrent pushes near the limit, and concurrent deletes', async () => {
    await createProject(wharf.url, admin, 'race');
    const shared = layer(8000);
    const images = Array.from({ length: 16 }, () => sizedImage([shared, layer(20_000)]));
    const each = added(images[0]!, shared);
    const limit = shared.length + 5 * Math.max(...images.map((image) => added(image, shared))) + Math.floor(each / 2);
    await setQuota(wharf.url, 'race', { bytes: limit });

    const answers = await Promise.all(
      images.map((image, index) => tryPush(wharf.url, `race/app${index % 4}`, `t${index}`, image, admin)),
    );
    const pushed = images.filter((_, index) => answers[index]?.status === 201);
    for (const answer of answers.filter((each) => each.status !== 201)) {
      assert.equal(answer.status, 403, answer.text());
      assert.match(
        firstError(answer).message,
        /^quota exceeded: used \d+ of \d+ bytes in project race; this push needs \d+ more$/,
      );
    }
    assert.equal(pushed.length, 5, 'exactly as many images as fit');
    const used = await projectUsage(wharf.url, 'race', admin);
    const expected = shared.length + pushed.reduce((sum, image) => sum + added(image, shared), 0);
    assert.deepEqual(used, { bytes: expected, artifacts: 5 });
    assert.ok(used.bytes <= limit, `${used.bytes} <= ${limit}`);
    await assertUsageExact(wharf.url, admin, 'race');

    // Deletes and pushes at once, with the limit lifted.
    await setQuota(wharf.url, 'race', { bytes: null });
    const more = Array.from({ length: 10 }, () => sizedImage([shared, layer(3000)]));
    const work = [
      ...pushed.map((image, index) => {
        const repo = `race/app${images.indexOf(image) % 4}`;
        return call(wharf.url, 'DELETE', `/v2/${repo}/manifests/${image.digest}`, basicOf(admin)).then((answer) => {
          assert.equal(answer.status, 202, `delete ${index}: ${answer.text()}`);
        });
      }),
      ...more.map((image, index) => push(wharf.url, `race/app${index % 3}`, `m${index}`, image, admin)),
    ];
    await Promise.all(work);
    assert.deepEqual(await projectUsage(wharf.url, 'race', admin), {
      bytes: shared.length + more.reduce((sum, image) => sum + added(image, shared), 0),
      artifacts: 10,
    });
    await assertUsageExact(wharf.url, admin);
  });
});

describe('storage.quota', () => {
  it('bounds the whole registry, without projects too', async () => {
    const first = sizedImage([layer(30_000)]);
    const wharf = await startWharf({ env: { REGISTRY_STORAGE_QUOTA: String(first.bytes + 10_000) } });
    try {
      await push(wharf.url, 'one/app', 'v1', first, admin);
      await push(wharf.url, 'two/app', 'v1', first, admin);
      const second = sizedImage([layer(11_000)]);
      const refused = await tryPush(wharf.url, 'three/app', 'v1', second, admin);
      assert.equal(refused.status, 403);
      assert.equal(
        firstError(refused).message,
        `quota exceeded: used ${first.bytes + first.manifest.length} of ${first.bytes + 10_000} bytes in the registry (storage.quota); this push needs 11000 more`,
      );
      const metrics = await (await fetch(`${wharf.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`^wharf_registry_storage_bytes ${first.bytes + first.manifest.length}$`, 'm'));
      assert.match(metrics, new RegExp(`^wharf_registry_quota_bytes ${first.bytes + 10_000}$`, 'm'));
    } finally {
      await wharf.close();
    }
  });
});
