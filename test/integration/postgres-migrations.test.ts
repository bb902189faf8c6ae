import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import { loadConfig } from '../../src/config/index.ts';
import { migrateToLatest, migrationStatus } from '../../src/metadata/migrate.ts';
import { connectPostgres } from '../../src/metadata/open-postgres.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';
import { startWharf } from '../helpers/wharf.ts';
import { runWharf } from '../helpers/wharf-cli.ts';

const allMigrations = [
  '001-initial',
  '002-identities',
  '003-projects',
  '004-oidc',
  '005-gc-reviews',
  '006-lifecycle-policies',
  '007-events',
  '008-audit-log',
  '009-replication',
  '010-proxy-cache',
  '011-signature-policies',
  '012-vulnerability-scanning',
  '013-retention-run-heartbeat',
  '014-manifests-by-digest',
];

describe('PostgreSQL schema migrations', () => {
  let postgres: Postgres;
  const pools: Kysely<Database>[] = [];

  /** A pool on `url` as `wharf serve` opens one, with `max` connections. */
  async function connect(url: string, max = 10): Promise<Kysely<Database>> {
    const { config } = await loadConfig({
      env: { REGISTRY_DATABASE_URL: url, REGISTRY_DATABASE_POOL_MAX: String(max) },
    });
    const db = connectPostgres(config.database);
    pools.push(db);
    return db;
  }

  const databaseName = (url: string) => new URL(url).pathname.slice(1);

  before(async () => {
    postgres = await startPostgres();
  });

  after(async () => {
    for (const db of pools) await db.destroy();
    await postgres?.stop();
  });

  it('creates every table on an empty database and finds nothing to do the second time', async () => {
    const url = await postgres.createDatabase();
    const db = await connect(url);
    assert.deepEqual(await migrateToLatest(db), allMigrations);
    assert.deepEqual(await migrateToLatest(db), []);
    const status = await migrationStatus(db);
    assert.deepEqual(
      status.map((migration) => migration.name),
      allMigrations,
    );
    assert.ok(status.every((migration) => migration.appliedAt instanceof Date));

    const tables = await postgres.query<{ table_name: string }>(
      databaseName(url),
      "select table_name from information_schema.tables where table_schema = 'public' and table_name not like 'kysely%' order by 1",
    );
    assert.deepEqual(
      tables.map((row) => row.table_name),
      [
        'audit_logs',
        'blobs',
        'event_deliveries',
        'event_outbox',
        'gc_blob_reviews',
        'gc_manifest_reviews',
        'immutability_rules',
        'manifest_blobs',
        'manifest_references',
        'manifests',
        'oidc_users',
        'project_members',
        'projects',
        'proxy_projects',
        'proxy_tag_checks',
        'replication_executions',
        'replication_policies',
        'replication_registries',
        'replication_tasks',
        'replication_triggers',
        'repositories',
        'repository_blobs',
        'retention_policies',
        'retention_run_artifacts',
        'retention_runs',
        'robots',
        'scan_queue',
        'scan_reports',
        'scan_state',
        'signature_policies',
        'storage_usage',
        'tags',
        'uploads',
        'users',
        'vulnerability_policies',
        'vulnerability_ranges',
        'webhook_policies',
      ],
    );
  });

  it('uses serial keys, bytea payloads and byte-order text on PostgreSQL', async () => {
    const url = await postgres.createDatabase();
    await migrateToLatest(await connect(url));
    const columns = await postgres.query<{
      table_name: string;
      column_name: string;
      data_type: string;
      collation_name: string | null;
      column_default: string | null;
    }>(
      databaseName(url),
      `select table_name, column_name, data_type, collation_name, column_default from information_schema.columns
       where table_schema = 'public' and table_name in ('repositories', 'manifests', 'tags')`,
    );
    const column = (table: string, name: string) => {
      const found = columns.find((row) => row.table_name === table && row.column_name === name);
      assert.ok(found, `${table}.${name} exists`);
      return found;
    };
    assert.equal(column('repositories', 'id').data_type, 'integer');
    assert.equal(column('repositories', 'id').column_default, "nextval('repositories_id_seq'::regclass)");
    assert.equal(column('manifests', 'id').column_default, "nextval('manifests_id_seq'::regclass)");
    assert.equal(column('manifests', 'payload').data_type, 'bytea');
    assert.equal(column('manifests', 'size').data_type, 'bigint');
    assert.equal(column('tags', 'name').collation_name, 'C');
    assert.equal(column('repositories', 'name').collation_name, 'C');
    assert.equal(column('manifests', 'digest').collation_name, 'C');
  });

  it('lets concurrent starts migrate the same database: one applies everything, the others wait and find it done', async () => {
    const url = await postgres.createDatabase();
    // One connection per pool: the advisory lock, the migration tables and the migrations share it.
    const results = await Promise.all([connect(url, 1), connect(url, 1), connect(url, 2), connect(url, 1)]).then(
      (dbs) => Promise.all(dbs.map((db) => migrateToLatest(db))),
    );
    const applied = results.filter((names) => names.length > 0);
    assert.equal(applied.length, 1, `exactly one start applied migrations: ${JSON.stringify(results)}`);
    assert.deepEqual(applied[0], allMigrations);
    const rows = await postgres.query<{ name: string }>(
      databaseName(url),
      'select name from kysely_migration order by name',
    );
    assert.deepEqual(
      rows.map((row) => row.name),
      allMigrations,
    );
  });

  it('reports the migrations with `wharf db status` and applies them with `wharf db migrate`', async () => {
    const url = await postgres.createDatabase();
    const env = { REGISTRY_DATABASE_URL: url };
    const before = await runWharf(['db', 'status'], env);
    assert.equal(before.code, 1, before.stderr);
    assert.equal(before.stderr, '');
    assert.match(before.stdout.split('\n')[1] ?? '', /^server: PostgreSQL 15\.\d+/);
    const width = Math.max(...allMigrations.map((name) => name.length)) + 2;
    assert.equal(
      before.stdout.replace(/^server: .*$/m, 'server: PostgreSQL'),
      [
        `database: ${url}`,
        'server: PostgreSQL',
        ...allMigrations.map((name) => `${name.padEnd(width)}pending`),
        `${allMigrations.length} pending: run \`wharf db migrate\``,
        '',
      ].join('\n'),
    );

    const migrated = await runWharf(['db', 'migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.equal(
      migrated.stdout,
      `${allMigrations.map((name) => `applied ${name}`).join('\n')}\n${url} is up to date (${allMigrations.length} applied)\n`,
    );
    const again = await runWharf(['db', 'migrate'], env);
    assert.deepEqual(again, { code: 0, stdout: `${url} is up to date\n`, stderr: '' });

    const after = await runWharf(['db', 'status'], env);
    assert.equal(after.code, 0, after.stderr);
    const lines = after.stdout.split('\n');
    assert.equal(lines[0], `database: ${url}`);
    for (const [index, name] of allMigrations.entries()) {
      assert.match(lines[index + 2] ?? '', new RegExp(`^${name} +applied \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`));
    }
    assert.equal(lines[allMigrations.length + 2], 'up to date');
  });

  it('reports and applies migrations of the SQLite database too', async () => {
    const root = await mkdtemp(join(tmpdir(), 'wharf-db-status-'));
    try {
      const env = { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root };
      assert.equal((await runWharf(['db', 'migrate'], env)).code, 0);
      const status = await runWharf(['db', 'status'], env);
      assert.equal(status.code, 0, status.stderr);
      const lines = status.stdout.split('\n');
      assert.equal(lines[0], `database: sqlite:${join(root, 'wharf.db')}`);
      assert.match(lines[1] ?? '', /^server: SQLite 3\.\d+\.\d+$/);
      assert.equal(lines.length, allMigrations.length + 4);
      assert.equal(lines[allMigrations.length + 2], 'up to date');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('hides the password in `wharf db status`', async () => {
    await postgres.query('postgres', "CREATE ROLE wharf LOGIN PASSWORD 'wharf-secret'");
    const url = await postgres.createDatabase();
    const withPassword = new URL(url);
    withPassword.username = 'wharf';
    withPassword.password = 'wharf-secret';
    const status = await runWharf(['db', 'status'], { REGISTRY_DATABASE_URL: withPassword.href });
    assert.equal(status.stdout.split('\n')[0], `database: ${withPassword.href.replace('wharf-secret', '***')}`);
    assert.doesNotMatch(status.stdout + status.stderr, /wharf-secret/);
  });

  it('refuses to serve with database.migrate manual while migrations are pending, then serves once migrated', async () => {
    const url = await postgres.createDatabase();
    const env = { REGISTRY_DATABASE_URL: url, REGISTRY_DATABASE_MIGRATE: 'manual' };
    const refused = await startWharf({ env }).then(
      async (wharf) => {
        await wharf.close();
        assert.fail('wharf started with pending migrations');
      },
      (error: Error) => error.message,
    );
    assert.match(refused, /exited with 2 before listening/);
    assert.match(
      refused,
      /configuration error: database\.migrate: is manual and .* needs migrations 001-initial, 002-identities, 003-projects, 004-oidc, 005-gc-reviews, 006-lifecycle-policies, 007-events, 008-audit-log, 009-replication, 010-proxy-cache, 011-signature-policies, 012-vulnerability-scanning, 013-retention-run-heartbeat, 014-manifests-by-digest: run `wharf db migrate`/,
    );
    assert.equal((await postgres.query(databaseName(url), "select to_regclass('tags') as tags"))[0]?.tags, null);

    assert.equal((await runWharf(['db', 'migrate'], env)).code, 0);
    const wharf = await startWharf({ env });
    try {
      const response = await fetch(`${wharf.url}/v2/`);
      assert.equal(response.status, 200);
    } finally {
      await wharf.close();
    }
  });

  it('fails `wharf db status` with one line when the server cannot be reached', async () => {
    const unreachable = `postgres://postgres@127.0.0.1:${postgres.port + 1}/none`;
    const status = await runWharf(['db', 'status'], { REGISTRY_DATABASE_URL: unreachable });
    assert.equal(status.code, 1);
    assert.equal(status.stdout, '');
    assert.match(status.stderr, /^wharf: connect ECONNREFUSED 127\.0\.0\.1:\d+\n$/);
  });
});
