import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { loadConfig } from '../../src/config/index.ts';
import type { AuditEntry } from '../../src/events/audit/audit-entry.ts';
import { AuditLog } from '../../src/events/audit/audit-log.ts';
import { AuditStore } from '../../src/events/audit/audit-store.ts';
import { openDatabase } from '../../src/metadata/open-database.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';

/** The audit log's queries on a real PostgreSQL: 64-bit ids, filters, pages, streaming and purging. */
describe('audit log on PostgreSQL', () => {
  let postgres: Postgres;
  let db: Kysely<Database>;
  let store: AuditStore;
  const start = Date.parse('2025-03-01T00:00:00Z');

  const entry = (index: number, overrides: Partial<AuditEntry> = {}): AuditEntry => ({
    time: start + index * 1000,
    actor: { name: index % 2 === 0 ? 'alice' : 'bob', kind: 'local' },
    sourceAddress: '2001:db8::1',
    action: index % 3 === 0 ? 'manifest.pull' : 'manifest.push',
    resourceType: 'manifest',
    resource: `team/app:${index}`,
    project: 'team',
    repository: 'team/app',
    outcome: 'success',
    status: 201,
    detail: { index },
    ...overrides,
  });

  before(async () => {
    postgres = await startPostgres();
    const url = await postgres.createDatabase();
    const { config } = await loadConfig({ env: { REGISTRY_DATABASE_URL: url } });
    db = await openDatabase(config.database);
    store = new AuditStore(db);
  });
  after(async () => {
    await db?.destroy();
    await postgres?.stop();
  });

  it('writes batches through AuditLog and answers filtered pages and streams', async () => {
    const log = new AuditLog(store, createLogger({ level: 'fatal', formatter: 'json', fields: {} }));
    for (let index = 0; index < 1200; index++) log.record(entry(index), { deferred: true });
    await log.close();
    assert.equal(await store.count({}), 1200);
    const page = await store.page({ actor: 'bob', actions: ['manifest.push'] }, { offset: 0, limit: 3 });
    assert.equal(page.total, 400);
    assert.deepEqual(
      page.records.map((record) => record.resource),
      ['team/app:1199', 'team/app:1195', 'team/app:1193'],
    );
    assert.equal(typeof page.records[0]?.id, 'number');
    assert.equal(page.records[0]?.sourceAddress, '2001:db8::1');
    assert.deepEqual(page.records[0]?.detail, { index: 1199 });
    const streamed: number[] = [];
    for await (const record of store.stream({ from: start + 100_000, to: start + 1_100_000 }, 250)) {
      streamed.push(record.time);
    }
    assert.equal(streamed.length, 1000);
    assert.deepEqual(streamed.slice(0, 2), [start + 100_000, start + 101_000]);
    assert.equal((await store.page({ resource: 'team/app' }, { offset: 0, limit: 1 })).total, 1200);
    assert.equal((await store.page({ resource: 'team/app:7' }, { offset: 0, limit: 1 })).total, 1);
  });

  it('purges past the cutoff in batches', async () => {
    assert.equal(await store.purgeBefore(start + 700_000, { batchSize: 256 }), 700);
    assert.equal(await store.count({}), 500);
    assert.equal(await store.count({ to: start + 700_000 }), 0);
  });

  it('numbers entries past 2^31 and reads the ids back as numbers', async () => {
    const { rows } = await sql<{ data_type: string }>`
      select data_type from information_schema.columns where table_name = 'audit_logs' and column_name = 'id'
    `.execute(db);
    assert.equal(rows[0]?.data_type, 'bigint');
    await sql`select setval(pg_get_serial_sequence('audit_logs', 'id'), 3000000000)`.execute(db);
    await store.insert([entry(5000)]);
    const [newest] = (await store.page({}, { offset: 0, limit: 1 })).records;
    assert.equal(newest?.id, 3_000_000_001);
    const streamed: number[] = [];
    for await (const record of store.stream({ from: start + 5_000_000 })) streamed.push(record.id);
    assert.deepEqual(streamed, [3_000_000_001]);
  });
});
