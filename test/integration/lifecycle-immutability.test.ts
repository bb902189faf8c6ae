import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  addMember,
  api,
  basicOf,
  type Credentials,
  call,
  createProject,
  createUser,
  credsFlag,
  putManifestAs,
} from '../helpers/auth.ts';
import { buildImageLayout } from '../helpers/images.ts';
import { firstError, layer, push, sizedImage, tagsOf, uploadBlob } from '../helpers/lifecycle.ts';
import { SkopeoError, skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const admin: Credentials = { username: 'admin', password: 'first-admin-password' };
const owner: Credentials = { username: 'owner', password: 'owner-password-1' };
const dev: Credentials = { username: 'dev', password: 'dev-password-1' };

interface RuleBody {
  id: number;
  repositories: { pattern: string; decoration: string };
  tags: { pattern: string; decoration: string };
  disabled: boolean;
  created_by: string;
}

/** Tag immutability rules: overwriting or deleting a matching tag is refused, pushing it again is not. */
describe('tag immutability', () => {
  let wharf: WharfProcess;
  let work: string;
  let rule: RuleBody;

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    work = await mkdtemp(join(tmpdir(), 'wharf-lifecycle-immutability-'));
    await createUser(wharf.url, admin, owner);
    await createUser(wharf.url, admin, dev);
    await createProject(wharf.url, admin, 'team');
    await addMember(wharf.url, admin, 'team', owner.username, 'projectAdmin');
    await addMember(wharf.url, admin, 'team', dev.username, 'developer');
  });

  after(async () => {
    await wharf?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('is managed by project admins, readable by members, and validated', async () => {
    const denied = await api(wharf.url, 'POST', '/projects/team/immutability-rules', {
      as: dev,
      body: { tags: { pattern: 'v*' } },
    });
    assert.equal(denied.status, 403);
    assert.deepEqual(firstError(denied), {
      code: 'DENIED',
      message: 'only project admins may manage the immutability rules of project team',
    });
    const invalid = await api(wharf.url, 'POST', '/projects/team/immutability-rules', {
      as: owner,
      body: { tags: { pattern: 'v{1' } },
    });
    assert.equal(invalid.status, 400);
    assert.deepEqual(firstError(invalid).detail, [
      { path: 'tags.pattern', message: 'invalid pattern: "{" is never closed' },
    ]);

    const created = await api(wharf.url, 'POST', '/projects/team/immutability-rules', {
      as: owner,
      body: { repositories: { pattern: 'scratch/**', decoration: 'excludes' }, tags: { pattern: 'v*' } },
    });
    assert.equal(created.status, 201, created.text());
    rule = created.json<RuleBody>();
    assert.equal(created.headers.get('location'), `/api/v1/projects/team/immutability-rules/${rule.id}`);
    assert.deepEqual(
      { ...rule, created_at: undefined },
      {
        id: rule.id,
        repositories: { pattern: 'scratch/**', decoration: 'excludes' },
        tags: { pattern: 'v*', decoration: 'matches' },
        disabled: false,
        created_at: undefined,
        created_by: 'owner',
      },
    );
    const listed = await api(wharf.url, 'GET', '/projects/team/immutability-rules', { as: dev });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.json<RuleBody[]>().map((each) => each.id),
      [rule.id],
    );
  });

  it('refuses a push that would move a matching tag, and accepts the same digest again', async () => {
    const first = sizedImage([layer(800)]);
    const second = sizedImage([layer(800)]);
    await push(wharf.url, 'team/app', 'v1.0', first, dev);

    for (const blob of second.blobs) assert.equal((await uploadBlob(wharf.url, 'team/app', blob, dev)).status, 201);
    const moved = await putManifestAs(wharf.url, 'team/app', 'v1.0', second.manifest, basicOf(dev));
    assert.equal(moved.status, 403);
    assert.deepEqual(firstError(moved), {
      code: 'DENIED',
      message: `tag team/app:v1.0 is immutable by immutability rule ${rule.id} (repositories not matching "scratch/**", tags matching "v*"); it cannot be overwritten`,
      detail: { repository: 'team/app', tag: 'v1.0', rule: rule.id },
    });

    const again = await putManifestAs(wharf.url, 'team/app', 'v1.0', first.manifest, basicOf(dev));
    assert.equal(again.status, 201, 'pushing the digest the tag names is a retry, not a change');
    assert.equal(again.headers.get('docker-content-digest'), first.digest);
    const manifest = await call(wharf.url, 'GET', '/v2/team/app/manifests/v1.0', basicOf(dev), {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(manifest.headers.get('docker-content-digest'), first.digest);

    // Tags the rule does not match move freely, in repositories it excludes too.
    await push(wharf.url, 'team/app', 'latest', first, dev);
    await push(wharf.url, 'team/app', 'latest', second, dev);
    await push(wharf.url, 'team/scratch/tmp', 'v1.0', first, dev);
    await push(wharf.url, 'team/scratch/tmp', 'v1.0', second, dev);
  });

  it('refuses deleting a matching tag, or the manifest it names', async () => {
    const image = sizedImage([layer(300)]);
    await push(wharf.url, 'team/lib', 'v2', image, owner);
    const untag = await call(wharf.url, 'DELETE', '/v2/team/lib/manifests/v2', basicOf(owner));
    assert.equal(untag.status, 403);
    assert.equal(
      firstError(untag).message,
      `tag team/lib:v2 is immutable by immutability rule ${rule.id} (repositories not matching "scratch/**", tags matching "v*"); it cannot be deleted`,
    );
    const remove = await call(wharf.url, 'DELETE', `/v2/team/lib/manifests/${image.digest}`, basicOf(owner));
    assert.equal(remove.status, 403);
    assert.equal(
      firstError(remove).message,
      `tag team/lib:v2 is immutable by immutability rule ${rule.id} (repositories not matching "scratch/**", tags matching "v*"); manifest ${image.digest} it names cannot be deleted`,
    );
    assert.deepEqual(await tagsOf(wharf.url, 'team/lib', owner), ['v2']);
  });

  it('refuses an overwrite by skopeo with the rule named', async () => {
    const layoutA = join(work, 'a');
    const layoutB = join(work, 'b');
    await buildImageLayout(layoutA, { tag: 'v9', layers: [{ files: { 'etc/which': 'a\n' } }] });
    await buildImageLayout(layoutB, { tag: 'v9', layers: [{ files: { 'etc/which': 'b\n' } }] });
    const destination = `docker://${wharf.host}/team/cli:v9`;
    await skopeo(['copy', '--dest-creds', credsFlag(dev), `oci:${layoutA}:v9`, destination]);
    const error = await skopeo(['copy', '--dest-creds', credsFlag(dev), `oci:${layoutB}:v9`, destination]).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof SkopeoError, 'skopeo fails');
    assert.match(error.stderr, /denied: tag team\/cli:v9 is immutable by immutability rule \d+/);
    await skopeo(['copy', '--dest-creds', credsFlag(dev), `oci:${layoutA}:v9`, destination]);
  });

  it('stops applying once disabled or removed', async () => {
    const first = sizedImage([layer(100)]);
    const second = sizedImage([layer(100)]);
    await push(wharf.url, 'team/svc', 'v3', first, owner);
    const disabled = await api(wharf.url, 'PUT', `/projects/team/immutability-rules/${rule.id}`, {
      as: owner,
      body: { repositories: rule.repositories, tags: rule.tags, disabled: true },
    });
    assert.equal(disabled.status, 200);
    assert.equal(disabled.json<RuleBody>().disabled, true);
    await push(wharf.url, 'team/svc', 'v3', second, owner);

    await api(wharf.url, 'PUT', `/projects/team/immutability-rules/${rule.id}`, {
      as: owner,
      body: { repositories: rule.repositories, tags: rule.tags, disabled: false },
    });
    const refused = await putManifestAs(wharf.url, 'team/svc', 'v3', first.manifest, basicOf(owner));
    assert.equal(refused.status, 403);

    const removed = await api(wharf.url, 'DELETE', `/projects/team/immutability-rules/${rule.id}`, { as: owner });
    assert.equal(removed.status, 204);
    assert.equal(
      (await api(wharf.url, 'DELETE', `/projects/team/immutability-rules/${rule.id}`, { as: owner })).status,
      404,
    );
    assert.equal((await putManifestAs(wharf.url, 'team/svc', 'v3', first.manifest, basicOf(owner))).status, 201);
    assert.equal((await call(wharf.url, 'DELETE', '/v2/team/svc/manifests/v3', basicOf(owner))).status, 202);
  });
});
