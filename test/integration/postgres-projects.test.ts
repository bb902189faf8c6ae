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
  createProject,
  createRobot,
  createUser,
  credsFlag,
  getManifestAs,
  pushImageAs,
} from '../helpers/auth.ts';
import { assertError } from '../helpers/http.ts';
import { type BuiltImage, buildImageLayout } from '../helpers/images.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';
import { SkopeoError, skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';
import { runWharf } from '../helpers/wharf-cli.ts';

const admin: Credentials = { username: 'admin', password: 'first-admin-password' };
const alice: Credentials = { username: 'alice', password: 'alice-password-1' };
const carol: Credentials = { username: 'carol', password: 'carol-password-1' };

/** Projects mode with users, projects, members and robots kept in PostgreSQL. */
describe('projects mode on PostgreSQL', () => {
  let postgres: Postgres;
  let databaseUrl: string;
  let wharf: WharfProcess;
  let work: string;
  let layout: string;
  let image: BuiltImage;
  let robot: Credentials;

  before(async () => {
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase();
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password, REGISTRY_DATABASE_URL: databaseUrl },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    work = await mkdtemp(join(tmpdir(), 'wharf-postgres-projects-'));
    layout = join(work, 'source');
    image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [{ files: { 'etc/motd': 'a project on PostgreSQL\n' } }],
    });
  });

  after(async () => {
    await wharf?.close();
    await postgres?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('keeps the first administrator, users, projects and members in PostgreSQL', async () => {
    await createProject(wharf.url, admin, 'team');
    await createUser(wharf.url, admin, alice);
    await addMember(wharf.url, admin, 'team', alice.username, 'developer');
    const users = await postgres.query<{ username: string; admin: number; disabled: number }>(
      new URL(databaseUrl).pathname.slice(1),
      'select username, admin, disabled from users order by username',
    );
    assert.deepEqual(users, [
      { username: 'admin', admin: 1, disabled: 0 },
      { username: 'alice', admin: 0, disabled: 0 },
    ]);
    const listed = await api(wharf.url, 'GET', '/users', { as: admin });
    assert.equal(listed.status, 200);
    const names = listed
      .json<{ username: string; admin: boolean }[]>()
      .map((user) => `${user.username}:${user.admin}`)
      .sort();
    assert.deepEqual(names, ['admin:true', 'alice:false']);
    const project = await api(wharf.url, 'GET', '/projects/team', { as: alice });
    assert.equal(project.status, 200, project.text());
    assert.equal(project.json<{ name: string; public: boolean }>().public, false);
  });

  it('lets a developer push and pull with skopeo through the token service', async () => {
    const reference = `docker://${wharf.host}/team/app:v1`;
    await skopeo(['copy', '--dest-creds', credsFlag(alice), `oci:${layout}:v1`, reference]);
    const pulled = join(work, 'pulled-alice');
    await skopeo(['copy', '--src-creds', credsFlag(alice), reference, `oci:${pulled}:v1`]);
    await assertSameImage(pulled, 'v1', image);
    assertError(await getManifestAs(wharf.url, 'team/app', 'v1', undefined), 401, 'UNAUTHORIZED');
  });

  it('gives a robot exactly its permissions', async () => {
    robot = await createRobot(wharf.url, admin, 'team', 'ci', ['pull']);
    const pulled = join(work, 'pulled-robot');
    await skopeo(['copy', '--src-creds', credsFlag(robot), `docker://${wharf.host}/team/app:v1`, `oci:${pulled}:v1`]);
    await assertSameImage(pulled, 'v1', image);
    const push = await skopeo([
      'copy',
      '--dest-creds',
      credsFlag(robot),
      `oci:${layout}:v1`,
      `docker://${wharf.host}/team/app:robot`,
    ]).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(push instanceof SkopeoError, 'a pull-only robot cannot push');
    assert.match(push.stderr, /denied|unauthorized|authentication required/i);
  });

  it('counts the project’s repositories and lists public projects to anonymous callers', async () => {
    await pushImageAs(wharf.url, 'team/tools', 'v1', basicOf(admin));
    const project = await api(wharf.url, 'GET', '/projects/team', { as: admin });
    assert.equal(project.json<{ repo_count?: number }>().repo_count, 2);
    await createProject(wharf.url, admin, 'open', true);
    const listed = await api(wharf.url, 'GET', '/projects');
    assert.equal(listed.status, 200, listed.text());
    assert.deepEqual(
      listed.json<{ name: string }[]>().map((entry) => entry.name),
      ['open'],
    );
  });

  it('adds a user with `wharf user add` straight into PostgreSQL', async () => {
    const generated = await runWharf(['user', 'add', carol.username, '--generate'], {
      REGISTRY_DATABASE_URL: databaseUrl,
      REGISTRY_AUTH_PROJECTS_ENABLED: 'true',
    });
    assert.equal(generated.code, 0, generated.stderr);
    const password = /^password: (.+)$/m.exec(generated.stdout)?.[1];
    assert.ok(password, generated.stdout);
    await addMember(wharf.url, admin, 'team', carol.username, 'guest');
    assert.equal(
      (await getManifestAs(wharf.url, 'team/app', 'v1', basicOf({ username: carol.username, password }))).status,
      200,
    );
  });
});
