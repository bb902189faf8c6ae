import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
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
  createRobot,
  createUser,
  credsFlag,
  getManifestAs,
  pushImageAs,
} from '../helpers/auth.ts';
import { MediaType } from '../helpers/http.ts';
import { buildImageLayout, buildMultiPlatformLayout } from '../helpers/images.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';
import { runWharf } from '../helpers/wharf-cli.ts';

const admin: Credentials = { username: 'admin', password: 'first-admin-password' };
const alice: Credentials = { username: 'alice', password: 'alice-password-1' };
const projectsMode = ['auth:', '  projects:', '    enabled: true'].join('\n');
const accept = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList];

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Every repository and tag a registry serves, each with the exact manifest bytes and content type. */
type Snapshot = Record<string, Record<string, { contentType: string | null; manifest: string }>>;

/**
 * Reads everything the registry serves, as admin: the catalog, every tag's manifest bytes, and
 * every blob and child manifest they name, each checked against its digest.
 */
async function snapshot(url: string): Promise<Snapshot> {
  const auth = basicOf(admin);
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const result = await call(url, 'GET', path, auth, { headers });
    assert.equal(result.status, 200, `GET ${path}: ${result.status} ${result.text()}`);
    return result;
  };
  const verifyManifest = async (repository: string, reference: string): Promise<Buffer> => {
    const result = await get(`/v2/${repository}/manifests/${reference}`, { accept: accept.join(', ') });
    const bytes = result.body;
    const manifest = JSON.parse(bytes.toString('utf8')) as {
      config?: { digest: string };
      layers?: { digest: string }[];
      manifests?: { digest: string }[];
    };
    for (const blob of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])]) {
      const pulled = await get(`/v2/${repository}/blobs/${blob.digest}`);
      assert.equal(sha256(pulled.body), blob.digest, `bytes of ${repository}@${blob.digest}`);
    }
    for (const child of manifest.manifests ?? []) {
      assert.equal(sha256(await verifyManifest(repository, child.digest)), child.digest);
    }
    return bytes;
  };
  const result: Snapshot = {};
  const catalog = (await get('/v2/_catalog?n=1000')).json<{ repositories: string[] }>().repositories;
  for (const repository of catalog) {
    const tags = (await get(`/v2/${repository}/tags/list?n=1000`)).json<{ tags: string[] }>().tags;
    result[repository] = {};
    for (const tag of tags) {
      const head = await call(url, 'HEAD', `/v2/${repository}/manifests/${tag}`, auth, {
        headers: { accept: accept.join(', ') },
      });
      const bytes = await verifyManifest(repository, tag);
      result[repository][tag] = { contentType: head.headers.get('content-type'), manifest: bytes.toString('base64') };
    }
  }
  return result;
}

/**
 * Moving a registry from SQLite to PostgreSQL: images pushed while it ran on SQLite, `wharf db
 * copy`, then the same storage root served from PostgreSQL with every tag, user and robot intact.
 */
describe('wharf db copy between SQLite and PostgreSQL', () => {
  let postgres: Postgres;
  let databaseUrl: string;
  let dataDir: string;
  let work: string;
  let before_: Snapshot;
  let robot: Credentials;
  let onPostgres: WharfProcess | undefined;

  before(async () => {
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'wharf-copy-data-'));
    work = await mkdtemp(join(tmpdir(), 'wharf-copy-work-'));

    const onSqlite = await startWharf({
      dataDir,
      env: { WHARF_ADMIN_PASSWORD: admin.password, REGISTRY_DATABASE_PATH: join(dataDir, 'wharf.db') },
      configYaml: projectsMode,
    });
    try {
      await createProject(onSqlite.url, admin, 'team');
      await createUser(onSqlite.url, admin, alice);
      await addMember(onSqlite.url, admin, 'team', alice.username, 'developer');
      robot = await createRobot(onSqlite.url, admin, 'team', 'ci', ['pull']);
      const layout = join(work, 'layout');
      await buildImageLayout(layout, { tag: 'v1', layers: [{ files: { 'etc/motd': 'copied\n' } }] });
      await buildMultiPlatformLayout(layout, 'multi', [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ]);
      const push = (tag: string, target: string) =>
        skopeo([
          'copy',
          '--all',
          '--dest-creds',
          credsFlag(admin),
          `oci:${layout}:${tag}`,
          `docker://${onSqlite.host}/${target}`,
        ]);
      await push('v1', 'team/app:v1');
      await push('v1', 'team/app:stable');
      await push('multi', 'team/app:multi');
      await push('multi', 'team/base:latest');
      for (const tag of ['a', 'b', 'c']) await pushImageAs(onSqlite.url, 'team/tools', tag, basicOf(admin));
      before_ = await snapshot(onSqlite.url);
    } finally {
      await onSqlite.stop();
    }
  });

  after(async () => {
    await onPostgres?.stop();
    await postgres?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  it('copies every table and reports the rows', async () => {
    const copied = await runWharf(['db', 'copy', '--from', `sqlite:${join(dataDir, 'wharf.db')}`, '--to', databaseUrl]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.equal(copied.stderr, '');
    const lines = copied.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `copying sqlite:${join(dataDir, 'wharf.db')} to ${databaseUrl}`);
    const counts = new Map(
      lines.slice(1, -1).map((line) => {
        const match = /^ {2}(\w+): (\d+) rows?$/.exec(line);
        assert.ok(match, `line ${JSON.stringify(line)}`);
        return [match[1], Number(match[2])] as const;
      }),
    );
    assert.deepEqual(
      [...counts.keys()],
      [
        'repositories',
        'blobs',
        'repository_blobs',
        'manifests',
        'manifest_blobs',
        'manifest_references',
        'tags',
        'uploads',
        'users',
        'robots',
        'projects',
        'project_members',
        'oidc_users',
        'webhook_policies',
        'event_outbox',
        'event_deliveries',
        'gc_blob_reviews',
        'gc_manifest_reviews',
        'audit_logs',
        'proxy_projects',
        'proxy_tag_checks',
        'storage_usage',
        'immutability_rules',
        'retention_policies',
        'retention_runs',
        'retention_run_artifacts',
        'replication_registries',
        'replication_policies',
        'replication_executions',
        'replication_tasks',
        'replication_triggers',
        'signature_policies',
        'vulnerability_ranges',
        'scan_state',
        'scan_reports',
        'scan_queue',
        'vulnerability_policies',
      ],
    );
    assert.equal(counts.get('repositories'), 3);
    assert.equal(counts.get('tags'), 7);
    assert.equal(counts.get('users'), 2);
    assert.equal(counts.get('robots'), 1);
    assert.equal(counts.get('projects'), 1);
    assert.equal(counts.get('manifest_references'), 4);
    const total = [...counts.values()].reduce((sum, rows) => sum + rows, 0);
    assert.equal(lines.at(-1), `copied ${total} rows`);

    const status = await runWharf(['db', 'status'], { REGISTRY_DATABASE_URL: databaseUrl });
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /\nup to date\n$/);
  });

  it('serves every tag byte for byte from PostgreSQL over the same storage', async () => {
    onPostgres = await startWharf({
      dataDir,
      env: { WHARF_ADMIN_PASSWORD: 'not-used-once-users-exist', REGISTRY_DATABASE_URL: databaseUrl },
      configYaml: projectsMode,
    });
    const after_ = await snapshot(onPostgres.url);
    assert.deepEqual(Object.keys(after_).sort(), ['team/app', 'team/base', 'team/tools']);
    assert.deepEqual(after_, before_);
  });

  it('keeps users, passwords, memberships and robots', async () => {
    assert.ok(onPostgres);
    assert.equal((await getManifestAs(onPostgres.url, 'team/app', 'v1', basicOf(alice))).status, 200);
    assert.equal((await getManifestAs(onPostgres.url, 'team/app', 'v1', basicOf(robot))).status, 200);
    const members = await api(onPostgres.url, 'GET', '/projects/team/members', { as: admin });
    assert.deepEqual(
      members
        .json<{ member_name: string; role: string }[]>()
        .map((member) => `${member.member_name}:${member.role}`)
        .sort(),
      ['admin:projectAdmin', 'alice:developer'],
    );
  });

  it('numbers new rows after the copied ones', async () => {
    assert.ok(onPostgres);
    await createProject(onPostgres.url, admin, 'next');
    await createUser(onPostgres.url, admin, { username: 'bob', password: 'bob-password-1' });
    await addMember(onPostgres.url, admin, 'next', 'bob', 'developer');
    await createRobot(onPostgres.url, admin, 'next', 'deploy', ['pull', 'push']);
    await pushImageAs(onPostgres.url, 'next/app', 'v1', basicOf(admin));
    await pushImageAs(onPostgres.url, 'team/tools', 'd', basicOf(admin));
    assert.equal((await getManifestAs(onPostgres.url, 'next/app', 'v1', basicOf(admin))).status, 200);
  });

  it('refuses to copy into a database that already holds rows', async () => {
    const again = await runWharf(['db', 'copy', '--from', `sqlite:${join(dataDir, 'wharf.db')}`, '--to', databaseUrl]);
    assert.equal(again.code, 1);
    assert.equal(
      again.stderr,
      'wharf: the destination database is not empty (table repositories has rows): copy into a new database\n',
    );
  });

  it('refuses a source that does not exist and an argument that names no database', async () => {
    const missing = await runWharf(['db', 'copy', '--from', `sqlite:${join(work, 'none.db')}`, '--to', databaseUrl]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^wharf: cannot open sqlite:.*none\.db: /);
    const wrong = await runWharf(['db', 'copy', '--from', 'mysql://db/wharf', '--to', databaseUrl]);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, 'wharf: --from: expected sqlite:PATH or a postgres:// URL, got "mysql://db/wharf"\n');
  });

  it('copies back from PostgreSQL into a new SQLite file that serves the same', async () => {
    assert.ok(onPostgres);
    const expected = await snapshot(onPostgres.url);
    await onPostgres.stop();
    onPostgres = undefined;
    const back = join(work, 'back', 'wharf.db');
    const copied = await runWharf(['db', 'copy', '--from', databaseUrl, '--to', `sqlite:${back}`]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, /\n {2}repositories: 4 rows\n/);
    const onSqlite = await startWharf({
      dataDir,
      env: { WHARF_ADMIN_PASSWORD: admin.password, REGISTRY_DATABASE_PATH: back },
      configYaml: projectsMode,
    });
    try {
      assert.deepEqual(await snapshot(onSqlite.url), expected);
      await pushImageAs(onSqlite.url, 'next/app', 'v2', basicOf(admin));
    } finally {
      await onSqlite.stop();
    }
  });
});
