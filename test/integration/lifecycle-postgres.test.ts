import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, basicOf, type Credentials, call, createProject, putManifestAs } from '../helpers/auth.ts';
import {
  assertUsageExact,
  catalogOf,
  eventually,
  firstError,
  layer,
  projectUsage,
  push,
  type RunRecord,
  runRetention,
  sizedImage,
  tagsOf,
  tryPush,
} from '../helpers/lifecycle.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const admin: Credentials = { username: 'admin', password: 'first-admin-password' };

/**
 * Two instances sharing one PostgreSQL database (and one storage directory): quotas stay exact
 * when pushes and deletes race through both, immutability and deletions seen by one hold on the
 * other, and a retention schedule both instances keep runs once per fire.
 */
describe('lifecycle policies on PostgreSQL, two instances', () => {
  let postgres: Postgres;
  let shared: string;
  let one: WharfProcess;
  let two: WharfProcess;

  before(async () => {
    postgres = await startPostgres();
    shared = await mkdtemp(join(tmpdir(), 'wharf-lifecycle-postgres-'));
    const options = {
      dataDir: shared,
      env: {
        WHARF_ADMIN_PASSWORD: admin.password,
        REGISTRY_DATABASE_URL: await postgres.createDatabase(),
        REGISTRY_HTTP_SECRET: 'lifecycle-postgres-shared-secret',
      },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    };
    one = await startWharf(options);
    two = await startWharf(options);
    for (const project of ['race', 'locked', 'clock']) await createProject(one.url, admin, project);
  });

  after(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await postgres?.stop();
    if (shared) await rm(shared, { recursive: true, force: true });
  });

  it('keeps usage exact and never overshoots a quota when both instances push and delete at once', async () => {
    const common = layer(8000);
    const images = Array.from({ length: 16 }, () => sizedImage([common, layer(20_000)]));
    const each = images[0]!.bytes - common.length;
    const limit = common.length + 5 * each + Math.floor(each / 2);
    assert.equal(
      (await api(one.url, 'PUT', '/projects/race/quota', { as: admin, body: { bytes: limit } })).status,
      200,
    );
    const instances = [one, two];
    const answers = await Promise.all(
      images.map((image, index) =>
        tryPush(instances[index % 2]!.url, `race/app${index % 3}`, `t${index}`, image, admin),
      ),
    );
    const pushed = images.filter((_, index) => answers[index]?.status === 201);
    for (const answer of answers.filter((entry) => entry.status !== 201)) {
      assert.equal(answer.status, 403, answer.text());
      assert.match(firstError(answer).message, /^quota exceeded: used \d+ of \d+ bytes in project race/);
    }
    assert.equal(pushed.length, 5);
    assert.deepEqual(await projectUsage(two.url, 'race', admin), { bytes: common.length + 5 * each, artifacts: 5 });
    await assertUsageExact(one.url, admin, 'race');

    assert.equal((await api(two.url, 'PUT', '/projects/race/quota', { as: admin, body: { bytes: null } })).status, 200);
    const more = Array.from({ length: 12 }, () => sizedImage([common, layer(2000)]));
    await Promise.all([
      ...pushed.map(async (image) => {
        const index = images.indexOf(image);
        const answer = await call(
          instances[(index + 1) % 2]!.url,
          'DELETE',
          `/v2/race/app${index % 3}/manifests/${image.digest}`,
          basicOf(admin),
        );
        assert.equal(answer.status, 202, answer.text());
      }),
      ...more.map((image, index) => push(instances[index % 2]!.url, `race/app${index % 3}`, `m${index}`, image, admin)),
    ]);
    const moreEach = more[0]!.bytes - common.length;
    assert.deepEqual(await projectUsage(one.url, 'race', admin), {
      bytes: common.length + 12 * moreEach,
      artifacts: 12,
    });
    await assertUsageExact(two.url, admin);
  });

  it('refuses on one instance what a rule made on the other protects; a repository deleted on one is gone on both', async () => {
    const first = sizedImage([layer(300)]);
    const second = sizedImage([layer(300)]);
    await push(one.url, 'locked/app', 'v1', first, admin);
    await push(one.url, 'locked/app', 'scratch', second, admin);
    const rule = await api(one.url, 'POST', '/projects/locked/immutability-rules', {
      as: admin,
      body: { tags: { pattern: 'v*' } },
    });
    assert.equal(rule.status, 201);
    const moved = await putManifestAs(two.url, 'locked/app', 'v1', second.manifest, basicOf(admin));
    assert.equal(moved.status, 403);
    assert.match(firstError(moved).message, /^tag locked\/app:v1 is immutable by immutability rule \d+/);
    assert.equal((await putManifestAs(two.url, 'locked/app', 'v1', first.manifest, basicOf(admin))).status, 201);
    assert.equal((await call(two.url, 'DELETE', '/v2/locked/app/manifests/v1', basicOf(admin))).status, 403);

    await push(two.url, 'locked/gone', 'latest', sizedImage([layer(100)]), admin);
    assert.ok((await catalogOf(one.url, admin)).includes('locked/gone'));
    assert.equal((await api(two.url, 'DELETE', '/projects/locked/repositories/gone', { as: admin })).status, 204);
    assert.ok(!(await catalogOf(one.url, admin)).includes('locked/gone'));
    assert.equal((await call(one.url, 'GET', '/v2/locked/gone/tags/list', basicOf(admin))).status, 404);
  });

  it('runs a schedule that both instances keep once per fire, and a run by hand on either', async () => {
    for (const tag of ['v1', 'v2', 'old1', 'old2'])
      await push(one.url, 'clock/app', tag, sizedImage([layer(100)]), admin);
    const manual = await api(two.url, 'PUT', '/projects/clock/retention', {
      as: admin,
      body: {
        rules: [
          { keep: 'always', tags: { pattern: 'v*' } },
          { keep: 'latest_pushed', count: 1, tags: { pattern: 'old*' } },
        ],
      },
    });
    assert.equal(manual.status, 200);
    const dry = await runRetention(one.url, 'clock', admin, true);
    assert.deepEqual(
      dry.artifacts.map((artifact) => artifact.tags),
      [['old1']],
    );

    // Each instance reads schedules made elsewhere within 30 s; the one that set it at once.
    for (const instance of [one, two]) {
      const answer = await api(instance.url, 'PUT', '/projects/clock/retention', {
        as: admin,
        body: { rules: [{ keep: 'always', tags: { pattern: 'v*' } }], schedule: '* * * * * *' },
      });
      assert.equal(answer.status, 200);
    }
    const runs = await eventually('four scheduled runs', async () => {
      const listed = (await api(two.url, 'GET', '/projects/clock/retention/runs?page_size=100', { as: admin })).json<
        RunRecord[]
      >();
      const finished = listed.filter((run) => run.trigger === 'schedule' && run.status !== 'running');
      return finished.length >= 4 ? finished : undefined;
    });
    await api(one.url, 'PUT', '/projects/clock/retention', {
      as: admin,
      body: { rules: [{ keep: 'always', tags: { pattern: 'v*' } }], schedule: null },
    });
    assert.ok(
      runs.every((run) => run.status === 'succeeded'),
      JSON.stringify(runs),
    );
    assert.equal(new Set(runs.map((run) => run.scheduled_for)).size, runs.length, 'no fire ran twice');
    assert.equal(
      runs.reduce((sum, run) => sum + run.deleted, 0),
      2,
      'old1 and old2 deleted once',
    );
    assert.deepEqual(await tagsOf(two.url, 'clock/app', admin), ['v1', 'v2']);
  });
});
