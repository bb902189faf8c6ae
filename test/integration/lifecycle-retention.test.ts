import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  addMember,
  api,
  basicOf,
  type Credentials,
  createProject,
  createUser,
  credsFlag,
  getManifestAs,
  putManifestAs,
} from '../helpers/auth.ts';
import { emptyDescriptor, emptyJson, MediaType, sha256 } from '../helpers/http.ts';
import { buildImageLayout } from '../helpers/images.ts';
import {
  eventually,
  firstError,
  layer,
  projectUsage,
  push,
  type RunRecord,
  runRetention,
  sizedImage,
  tagsOf,
  uploadBlob,
} from '../helpers/lifecycle.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const admin: Credentials = { username: 'admin', password: 'first-admin-password' };
const owner: Credentials = { username: 'owner', password: 'owner-password-1' };
const dev: Credentials = { username: 'dev', password: 'dev-password-1' };
const second = 1 / 86_400;

async function setPolicy(base: string, project: string, body: unknown): Promise<void> {
  const answer = await api(base, 'PUT', `/projects/${project}/retention`, { as: owner, body });
  assert.equal(answer.status, 200, answer.text());
}

/** Retention policies with real pushes and pulls: each rule type, dry runs, run records, schedules. */
describe('retention', () => {
  let wharf: WharfProcess;
  let work: string;

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    work = await mkdtemp(join(tmpdir(), 'wharf-lifecycle-retention-'));
    await createUser(wharf.url, admin, owner);
    await createUser(wharf.url, admin, dev);
    for (const project of ['count', 'age', 'mixed', 'clock']) {
      await createProject(wharf.url, admin, project);
      await addMember(wharf.url, admin, project, owner.username, 'projectAdmin');
      await addMember(wharf.url, admin, project, dev.username, 'developer');
    }
  });

  after(async () => {
    await wharf?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('is set by project admins, with rules and a cron schedule validated', async () => {
    const denied = await api(wharf.url, 'PUT', '/projects/count/retention', {
      as: dev,
      body: { rules: [{ keep: 'always' }] },
    });
    assert.equal(denied.status, 403);
    assert.equal(firstError(denied).message, 'only project admins may set the retention policy of project count');
    const invalid = await api(wharf.url, 'PUT', '/projects/count/retention', {
      as: owner,
      body: { rules: [{ keep: 'latest_pushed', count: 0 }], schedule: 'every day' },
    });
    assert.equal(invalid.status, 400);
    assert.deepEqual((firstError(invalid).detail as { path: string }[]).map((issue) => issue.path).sort(), [
      'rules.0.count',
      'schedule',
    ]);
    const document = await api(wharf.url, 'GET', '/openapi.json');
    assert.equal(document.status, 200);
    const paths = document.json<{ paths: Record<string, Record<string, { operationId: string }>> }>().paths;
    assert.deepEqual(
      [
        paths['/projects/{name}/retention/runs']?.post?.operationId,
        paths['/projects/{name}/repositories/{repository}']?.delete?.operationId,
        paths['/projects/{name}/immutability-rules/{id}']?.put?.operationId,
        paths['/projects/{name}/quota']?.put?.operationId,
        paths['/usage/recompute']?.post?.operationId,
      ],
      ['startRetentionRun', 'deleteRepository', 'updateImmutabilityRule', 'setProjectQuota', 'recomputeUsage'],
    );
    const missing = await api(wharf.url, 'POST', '/projects/count/retention/runs', { as: owner, body: {} });
    assert.equal(missing.status, 404);
    assert.equal(firstError(missing).message, 'project count has no retention policy');
  });

  it('keeps the N most recently pushed; a dry run only lists what would go', async () => {
    const images = [1, 2, 3, 4].map(() => sizedImage([layer(2000)]));
    for (const [index, image] of images.entries()) await push(wharf.url, 'count/app', `v${index + 1}`, image, dev);
    await push(wharf.url, 'count/other', 'v1', sizedImage([layer(100)]), dev);
    await setPolicy(wharf.url, 'count', {
      rules: [{ keep: 'latest_pushed', count: 2, repositories: { pattern: 'app' } }],
    });
    const policy = await api(wharf.url, 'GET', '/projects/count/retention', { as: dev });
    assert.equal(policy.status, 200);
    assert.deepEqual(policy.json<{ rules: unknown[]; schedule: null; next_run: null }>().rules, [
      {
        keep: 'latest_pushed',
        count: 2,
        disabled: false,
        repositories: { pattern: 'app', decoration: 'matches' },
        tags: { pattern: '**', decoration: 'matches', untagged: false },
      },
    ]);

    const usageBefore = await projectUsage(wharf.url, 'count', owner);
    const dry = await runRetention(wharf.url, 'count', owner, true);
    assert.deepEqual(
      { ...dry.run, id: 0, started_at: '', finished_at: '' },
      {
        id: 0,
        trigger: 'manual',
        dry_run: true,
        status: 'succeeded',
        triggered_by: 'owner',
        scheduled_for: null,
        started_at: '',
        finished_at: '',
        total: 4,
        retained: 2,
        deleted: 2,
        failed: 0,
        bytes_freed: images[0]!.bytes + images[1]!.bytes,
        error: null,
      },
    );
    assert.deepEqual(dry.artifacts.map((artifact) => [artifact.tags, artifact.outcome]).sort(), [
      [['v1'], 'would-delete'],
      [['v2'], 'would-delete'],
    ]);
    assert.deepEqual(await tagsOf(wharf.url, 'count/app', dev), ['v1', 'v2', 'v3', 'v4'], 'a dry run deletes nothing');

    const real = await runRetention(wharf.url, 'count', owner, false);
    assert.equal(real.run.status, 'succeeded');
    assert.equal(real.run.deleted, 2);
    assert.equal(real.run.bytes_freed, dry.run.bytes_freed);
    assert.deepEqual(
      real.artifacts.map((artifact) => [artifact.digest, artifact.outcome]).sort(),
      [
        [images[0]!.digest, 'deleted'],
        [images[1]!.digest, 'deleted'],
      ].sort(),
    );
    assert.deepEqual(await tagsOf(wharf.url, 'count/app', dev), ['v3', 'v4']);
    assert.deepEqual(await tagsOf(wharf.url, 'count/other', dev), ['v1'], 'repositories no rule selects are untouched');
    const usageAfter = await projectUsage(wharf.url, 'count', owner);
    assert.equal(usageBefore.bytes - usageAfter.bytes, real.run.bytes_freed);

    const runs = await api(wharf.url, 'GET', '/projects/count/retention/runs', { as: dev });
    assert.equal(runs.headers.get('x-total-count'), '2');
    assert.deepEqual(
      runs.json<RunRecord[]>().map((run) => [run.id, run.dry_run]),
      [
        [real.run.id, false],
        [dry.run.id, true],
      ],
    );
    const denied = await api(wharf.url, 'POST', '/projects/count/retention/runs', { as: dev, body: {} });
    assert.equal(denied.status, 403);
  });

  it('keeps what was pushed or pulled within N days (and the most recently pulled)', async () => {
    const oldPush = sizedImage([layer(500)]);
    await push(wharf.url, 'age/pushed', 'old', oldPush, dev);
    const pulled = [1, 2, 3].map(() => sizedImage([layer(500)]));
    for (const [index, image] of pulled.entries()) await push(wharf.url, 'age/pulled', `p${index + 1}`, image, dev);
    const ranked = [1, 2].map(() => sizedImage([layer(500)]));
    for (const [index, image] of ranked.entries()) await push(wharf.url, 'age/ranked', `q${index + 1}`, image, dev);
    await sleep(3000);

    // A pull with skopeo, one by hand; recorded shortly after the answer.
    await skopeo(['inspect', '--creds', credsFlag(dev), `docker://${wharf.host}/age/pulled:p2`]);
    assert.equal((await getManifestAs(wharf.url, 'age/ranked', 'q1', basicOf(dev))).status, 200);
    for (const [repository, digest] of [
      ['pulled', pulled[1]!.digest],
      ['ranked', ranked[0]!.digest],
    ] as const) {
      await eventually(`the pull of age/${repository}`, async () => {
        const listed = await api(wharf.url, 'GET', `/projects/age/repositories/${repository}/artifacts`, { as: dev });
        const entry = listed
          .json<{ digest: string; pulled_at: string | null }[]>()
          .find((each) => each.digest === digest);
        return entry?.pulled_at ?? undefined;
      });
    }
    const freshPush = sizedImage([layer(500)]);
    await push(wharf.url, 'age/pushed', 'new', freshPush, dev);
    await setPolicy(wharf.url, 'age', {
      rules: [
        { keep: 'pushed_within_days', days: 1.5 * second, repositories: { pattern: 'pushed' } },
        { keep: 'pulled_within_days', days: 1.5 * second, repositories: { pattern: 'pulled' } },
        { keep: 'latest_pulled', count: 1, repositories: { pattern: 'ranked' } },
      ],
    });
    const { run } = await runRetention(wharf.url, 'age', owner, false);
    assert.equal(run.status, 'succeeded', run.error ?? '');
    assert.deepEqual([run.total, run.retained, run.deleted], [7, 3, 4]);
    assert.deepEqual(await tagsOf(wharf.url, 'age/pushed', dev), ['new']);
    assert.deepEqual(await tagsOf(wharf.url, 'age/pulled', dev), ['p2']);
    assert.deepEqual(
      await tagsOf(wharf.url, 'age/ranked', dev),
      ['q1'],
      'q1 was pulled, q2 pushed later but never pulled',
    );
  });

  it('keeps matching tags, signed and immutable artifacts; untagged ones go unless a rule includes them', async () => {
    const release = sizedImage([layer(400)]);
    const devOld = sizedImage([layer(400)]);
    const devNew = sizedImage([layer(400)]);
    const signedOld = sizedImage([layer(400)]);
    const loose = sizedImage([layer(400)]);
    const locked = sizedImage([layer(400)]);
    await push(wharf.url, 'mixed/app', 'release-1', release, dev);
    await push(wharf.url, 'mixed/app', 'dev-1', devOld, dev);
    await push(wharf.url, 'mixed/app', 'dev-0', signedOld, dev);
    await push(wharf.url, 'mixed/app', loose.digest, loose, dev);
    await push(wharf.url, 'mixed/app', 'v1', locked, dev);
    await push(wharf.url, 'mixed/app', 'dev-2', devNew, dev);
    // A signature of dev-0: an artifact whose subject it is.
    assert.equal((await uploadBlob(wharf.url, 'mixed/app', emptyJson, dev)).status, 201);
    const signature = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
        config: emptyDescriptor,
        layers: [emptyDescriptor],
        subject: { mediaType: MediaType.ociManifest, digest: signedOld.digest, size: signedOld.manifest.length },
      }),
    );
    const signed = await putManifestAs(wharf.url, 'mixed/app', sha256(signature), signature, basicOf(dev));
    assert.equal(signed.status, 201, signed.text());
    const rule = await api(wharf.url, 'POST', '/projects/mixed/immutability-rules', {
      as: owner,
      body: { tags: { pattern: 'v*' } },
    });
    assert.equal(rule.status, 201);

    await setPolicy(wharf.url, 'mixed', {
      rules: [
        { keep: 'always', tags: { pattern: 'release-*' } },
        { keep: 'latest_pushed', count: 1, tags: { pattern: 'dev-*' } },
      ],
    });
    const dry = await runRetention(wharf.url, 'mixed', owner, true);
    assert.deepEqual(
      dry.artifacts.map((artifact) => artifact.digest).sort(),
      [devOld.digest, loose.digest].sort(),
      'dev-1 (not the latest dev-) and the untagged manifest would go',
    );
    await setPolicy(wharf.url, 'mixed', {
      rules: [
        { keep: 'always', tags: { pattern: 'release-*' } },
        { keep: 'latest_pushed', count: 1, tags: { pattern: 'dev-*' } },
        { keep: 'pushed_within_days', days: 1, tags: { pattern: 'none', untagged: true } },
      ],
    });
    const real = await runRetention(wharf.url, 'mixed', owner, false);
    assert.deepEqual(
      real.artifacts.map((artifact) => [artifact.tags, artifact.outcome]),
      [[['dev-1'], 'deleted']],
    );
    assert.deepEqual(await tagsOf(wharf.url, 'mixed/app', dev), ['dev-0', 'dev-2', 'release-1', 'v1']);
    assert.equal((await getManifestAs(wharf.url, 'mixed/app', loose.digest, basicOf(dev))).status, 200);
  });

  it('runs on its cron schedule, once per fire, until the schedule is removed', async () => {
    const layout = join(work, 'clock');
    await buildImageLayout(layout, { tag: 'v1', layers: [{ files: { 'etc/clock': 'tick\n' } }] });
    await skopeo(['copy', '--dest-creds', credsFlag(dev), `oci:${layout}:v1`, `docker://${wharf.host}/clock/app:v1`]);
    await push(wharf.url, 'clock/app', 'old', sizedImage([layer(100)]), dev);
    await push(wharf.url, 'clock/app', 'v2', sizedImage([layer(100)]), dev);
    await setPolicy(wharf.url, 'clock', {
      rules: [{ keep: 'always', tags: { pattern: 'v*' } }],
      schedule: '* * * * * *',
    });
    const policy = (await api(wharf.url, 'GET', '/projects/clock/retention', { as: dev })).json<{
      next_run: string;
    }>();
    assert.ok(Date.parse(policy.next_run) - Date.now() <= 1000, `next run ${policy.next_run} within a second`);
    const scheduled = await eventually('two scheduled runs', async () => {
      const runs = (await api(wharf.url, 'GET', '/projects/clock/retention/runs', { as: dev })).json<RunRecord[]>();
      const finished = runs.filter((run) => run.trigger === 'schedule' && run.status !== 'running');
      return finished.length >= 2 ? finished : undefined;
    });
    assert.ok(scheduled.every((run) => run.status === 'succeeded' && run.triggered_by === null));
    assert.equal(new Set(scheduled.map((run) => run.scheduled_for)).size, scheduled.length, 'one run per fire');
    assert.ok(
      scheduled.every((run) => run.scheduled_for?.endsWith('.000Z')),
      'fires on whole seconds',
    );
    assert.equal(
      scheduled.reduce((sum, run) => sum + run.deleted, 0),
      1,
      'the first run deleted "old", the others nothing',
    );
    assert.deepEqual(await tagsOf(wharf.url, 'clock/app', dev), ['v1', 'v2']);

    await setPolicy(wharf.url, 'clock', { rules: [{ keep: 'always', tags: { pattern: 'v*' } }], schedule: null });
    const count = async () =>
      Number((await api(wharf.url, 'GET', '/projects/clock/retention/runs', { as: dev })).headers.get('x-total-count'));
    const stopped = await count();
    await sleep(2500);
    assert.ok((await count()) <= stopped + 1, 'at most a run already under way when the schedule went');
    const removed = await api(wharf.url, 'DELETE', '/projects/clock/retention', { as: owner });
    assert.equal(removed.status, 204);
    assert.equal((await api(wharf.url, 'GET', '/projects/clock/retention', { as: dev })).status, 404);
  });
});
