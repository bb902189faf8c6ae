import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import { loadConfig } from '../../src/config/index.ts';
import { apiCallAction } from '../../src/events/audit/api-call-action.ts';
import { type AuditEntry, auditRecordJson, parseRfc3339 } from '../../src/events/audit/audit-entry.ts';
import { AuditLog } from '../../src/events/audit/audit-log.ts';
import { purgeAuditLog, purgeIntervalMs } from '../../src/events/audit/audit-retention.ts';
import { AuditStore } from '../../src/events/audit/audit-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { createLogger } from '../../src/observability/logger.ts';

const logger = createLogger({ level: 'fatal', formatter: 'json', fields: {} });
const start = Date.parse('2025-03-01T00:00:00Z');
const minute = 60_000;

function entry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    time: start,
    actor: { name: 'alice', kind: 'local' },
    sourceAddress: '192.0.2.10',
    userAgent: 'skopeo/1.13',
    requestId: 'req-1',
    action: 'manifest.push',
    resourceType: 'manifest',
    resource: 'team/app:1.0',
    project: 'team',
    repository: 'team/app',
    outcome: 'success',
    status: 201,
    method: 'PUT',
    route: '/v2/{name}/manifests/{reference}',
    detail: { digest: 'sha256:abc', tag: '1.0' },
    ...overrides,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until the table holds `count` entries (a write is asynchronous), failing after 5 s. */
async function waitForCount(store: AuditStore, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const stored = await store.count({});
    if (stored === count) return;
    assert.ok(Date.now() < deadline, `${stored} entries stored, expected ${count}`);
    await sleep(20);
  }
}

describe('audit log', () => {
  let dir: string;
  let db: Kysely<Database>;
  let store: AuditStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-audit-'));
    db = await openSqlite(join(dir, 'wharf.db'));
    store = new AuditStore(db);
  });
  after(async () => {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await db.deleteFrom('audit_logs').execute();
  });

  it('stores every field and gives it back in its JSON form', async () => {
    await store.insert([entry()]);
    const { total, records } = await store.page({}, { offset: 0, limit: 10 });
    assert.equal(total, 1);
    const json = auditRecordJson(records[0]!);
    assert.equal(typeof json.id, 'number');
    assert.deepEqual(
      { ...json, id: 0 },
      {
        id: 0,
        time: '2025-03-01T00:00:00.000Z',
        actor: 'alice',
        actor_kind: 'local',
        source_address: '192.0.2.10',
        user_agent: 'skopeo/1.13',
        request_id: 'req-1',
        action: 'manifest.push',
        resource_type: 'manifest',
        resource: 'team/app:1.0',
        project: 'team',
        repository: 'team/app',
        outcome: 'success',
        status: 201,
        method: 'PUT',
        route: '/v2/{name}/manifests/{reference}',
        detail: { digest: 'sha256:abc', tag: '1.0' },
      },
    );
  });

  it('cuts client-controlled text and keeps absent fields null', async () => {
    await store.insert([
      entry({ userAgent: 'x'.repeat(5000), sourceAddress: undefined, detail: { big: 'y'.repeat(10_000) } }),
    ]);
    const json = auditRecordJson((await store.page({}, { offset: 0, limit: 1 })).records[0]!);
    assert.equal(json.user_agent?.length, 512);
    assert.equal(json.source_address, null);
    assert.deepEqual(json.detail, { truncated: true });
  });

  it('filters by time range, actor, project, actions, resource and outcome, newest first', async () => {
    await store.insert([
      entry({
        time: start,
        action: 'login',
        resourceType: 'session',
        resource: 'alice',
        project: undefined,
        repository: undefined,
      }),
      entry({ time: start + minute, action: 'manifest.push' }),
      entry({ time: start + 2 * minute, actor: { name: 'bob', kind: 'ldap' }, action: 'manifest.pull' }),
      entry({
        time: start + 3 * minute,
        action: 'tag.delete',
        resource: 'other/app:2',
        project: 'other',
        repository: 'other/app',
        outcome: 'failure',
        status: 403,
      }),
      entry({ time: start + 4 * minute, action: 'manifest.delete', resource: 'team/app@sha256:abc' }),
      entry({
        time: start + 5 * minute,
        action: 'blob.delete',
        resource: 'team/app2@sha256:abc',
        repository: 'team/app2',
      }),
    ]);
    const actions = async (filter: Parameters<AuditStore['page']>[0]) =>
      (await store.page(filter, { offset: 0, limit: 10 })).records.map((record) => record.action);
    assert.deepEqual(await actions({}), [
      'blob.delete',
      'manifest.delete',
      'tag.delete',
      'manifest.pull',
      'manifest.push',
      'login',
    ]);
    assert.deepEqual(await actions({ from: start + minute, to: start + 3 * minute }), [
      'manifest.pull',
      'manifest.push',
    ]);
    assert.deepEqual(await actions({ actor: 'bob' }), ['manifest.pull']);
    assert.deepEqual(await actions({ project: 'other' }), ['tag.delete']);
    assert.deepEqual(await actions({ actions: ['login', 'tag.delete'] }), ['tag.delete', 'login']);
    assert.deepEqual(await actions({ outcome: 'failure' }), ['tag.delete']);
    assert.deepEqual(await actions({ resource: 'team/app' }), ['manifest.delete', 'manifest.pull', 'manifest.push']);
    assert.deepEqual(await actions({ resource: 'team/app@sha256:abc' }), ['manifest.delete']);
    assert.deepEqual(await actions({ resource: 'other/app:2' }), ['tag.delete']);
    assert.deepEqual(await actions({ actor: 'nobody' }), []);
  });

  it('pages with a total, and streams everything oldest first in batches', async () => {
    const entries = Array.from({ length: 25 }, (_, index) =>
      entry({ time: start + index * 1000, resource: `team/app:${index}` }),
    );
    await store.insert(entries);
    const second = await store.page({}, { offset: 10, limit: 10 });
    assert.equal(second.total, 25);
    assert.deepEqual(
      second.records.map((record) => record.resource),
      Array.from({ length: 10 }, (_, index) => `team/app:${14 - index}`),
    );
    const streamed: string[] = [];
    for await (const record of store.stream({ from: start + 5000 }, 7)) streamed.push(record.resource);
    assert.deepEqual(
      streamed,
      Array.from({ length: 20 }, (_, index) => `team/app:${index + 5}`),
    );
    assert.equal(await store.count({ to: start + 5000 }), 5);
  });

  it('purges entries older than the retention, in batches, and nothing newer', async () => {
    await store.insert(Array.from({ length: 12 }, (_, index) => entry({ time: start + index * minute })));
    assert.equal(await store.purgeBefore(start + 5 * minute, { batchSize: 2 }), 5);
    assert.equal(await store.count({}), 7);
    assert.equal(await purgeAuditLog(store, 2 * minute, start + 11 * minute), 4);
    assert.equal(await store.count({}), 3);
    assert.equal((await store.page({}, { offset: 0, limit: 10 })).records.at(-1)?.time, start + 9 * minute);
  });

  it('purges hourly, or twice per retention when that is shorter', () => {
    assert.equal(purgeIntervalMs(2160 * 3_600_000), 3_600_000);
    assert.equal(purgeIntervalMs(30 * minute), 15 * minute);
    assert.equal(purgeIntervalMs(500), 1000);
  });

  it('writes deferred entries together after the interval, others at once', async () => {
    const written: number[] = [];
    const log = new AuditLog(store, logger, { flushIntervalMs: 1000, onWritten: (count) => written.push(count) });
    for (let index = 0; index < 3; index++) log.record(entry({ action: 'manifest.pull' }), { deferred: true });
    await sleep(200);
    assert.equal(await store.count({}), 0, 'pulls wait for the interval');
    log.record(entry({ action: 'tag.delete' }));
    await waitForCount(store, 4);
    assert.deepEqual(written, [4], 'a change is written at once, with what waited, in one INSERT');
    const queuedAt = Date.now();
    log.record(entry({ action: 'manifest.pull' }), { deferred: true });
    await sleep(200);
    assert.equal(await store.count({}), 4);
    await waitForCount(store, 5);
    assert.ok(Date.now() - queuedAt >= 900, 'a lone pull is written after the interval');
    await log.close();
  });

  it('writes a full batch without waiting, and flush() makes everything visible', async () => {
    const log = new AuditLog(store, logger, { flushIntervalMs: 60_000, batchSize: 10 });
    for (let index = 0; index < 10; index++) log.record(entry({ action: 'manifest.pull' }), { deferred: true });
    await waitForCount(store, 10);
    log.record(entry({ action: 'manifest.pull' }), { deferred: true });
    await log.flush();
    assert.equal(await store.count({}), 11);
    await log.close();
    log.record(entry());
    await log.flush();
    assert.equal(await store.count({}), 11, 'nothing is recorded after close');
  });

  it('keeps entries queued while the database fails, drops beyond the limit and counts it', async () => {
    let failing = true;
    const flaky = new AuditStore(db);
    const insert = flaky.insert.bind(flaky);
    flaky.insert = async (entries) => {
      if (failing) throw new Error('database unavailable');
      return insert(entries);
    };
    let dropped = 0;
    const log = new AuditLog(flaky, logger, {
      flushIntervalMs: 60_000,
      maxQueued: 3,
      onDropped: (n) => (dropped += n),
    });
    for (let index = 0; index < 5; index++) log.record(entry({ resource: `team/app:${index}` }));
    await log.flush();
    assert.equal(dropped, 2);
    assert.equal(await store.count({}), 0);
    failing = false;
    await log.flush();
    assert.deepEqual((await store.page({}, { offset: 0, limit: 10 })).records.map((record) => record.resource).sort(), [
      'team/app:0',
      'team/app:1',
      'team/app:2',
    ]);
    await log.close();
  });
});

describe('audit action names of management API calls', () => {
  const cases: Array<[string, string, string, string]> = [
    ['POST', '/projects', 'project', 'project.create'],
    ['PUT', '/projects/{name}', 'project', 'project.update'],
    ['DELETE', '/projects/{name}', 'project', 'project.delete'],
    ['POST', '/projects/{name}/members', 'member', 'member.create'],
    ['PUT', '/projects/{name}/members/{id}', 'member', 'member.update'],
    ['DELETE', '/projects/{name}/members/{id}', 'member', 'member.delete'],
    ['POST', '/projects/{name}/robots', 'robot', 'robot.create'],
    ['PATCH', '/robots/{robot}', 'robot', 'robot.update'],
    ['POST', '/projects/{name}/robots/{robot}/secret', 'robot', 'robot.secret'],
    ['PUT', '/users/current/password', 'user', 'user.password.update'],
    ['DELETE', '/projects/{name}/repositories/{repository}', 'repository', 'repository.delete'],
    ['POST', '/projects/{name}/webhooks/{id}/deliveries/{delivery}/redeliver', 'delivery', 'delivery.redeliver'],
    ['PUT', '/projects/{name}/policies', 'policy', 'policy.update'],
    ['POST', '/system/gc', 'system', 'system.gc'],
    ['POST', '/registries/ping', 'registry', 'registry.ping'],
    ['POST', '/projects/{name}/retention/runs', 'retention-run', 'retention-run.create'],
    ['PUT', '/replication/policies/{id}', 'replication-policy', 'replication-policy.update'],
    ['PUT', '/projects/{name}/quota', 'project', 'project.quota.update'],
    ['DELETE', '/projects/{name}/immutability-rules/{id}', 'immutability-rule', 'immutability-rule.delete'],
    [
      'POST',
      '/notifications/endpoints/{endpoint}/deliveries/redeliver',
      'notification-endpoint',
      'notification-endpoint.deliveries.redeliver',
    ],
    ['PUT', '/projects/{name}/status', 'project', 'project.status.update'],
  ];
  for (const [method, pattern, resourceType, action] of cases) {
    it(`${method} ${pattern} is ${action}`, () => {
      assert.deepEqual(apiCallAction(method, pattern), { resourceType, action });
    });
  }
});

describe('RFC 3339 timestamps', () => {
  it('accepts offsets and fractions, refuses anything else', () => {
    assert.equal(parseRfc3339('2025-01-31T09:30:00Z'), Date.parse('2025-01-31T09:30:00Z'));
    assert.equal(parseRfc3339('2025-01-31T10:30:00.250+01:00'), Date.parse('2025-01-31T09:30:00.250Z'));
    for (const bad of ['2025-01-31', '2025-01-31T09:30Z', 'yesterday', '1738315800', '2025-13-01T00:00:00Z']) {
      assert.equal(parseRfc3339(bad), undefined, bad);
    }
  });
});

describe('audit configuration', () => {
  it('keeps 90 days and records pulls by default; REGISTRY_AUDIT_* override it', async () => {
    const defaults = (await loadConfig({ env: {} })).config.audit;
    assert.deepEqual(defaults, { enabled: true, retention: 90 * 24 * 3_600_000, pulls: true });
    const { config } = await loadConfig({
      env: { REGISTRY_AUDIT_RETENTION: '0', REGISTRY_AUDIT_PULLS: 'false', REGISTRY_AUDIT_ENABLED: 'false' },
    });
    assert.deepEqual(config.audit, { enabled: false, retention: 0, pulls: false });
    await assert.rejects(loadConfig({ env: { REGISTRY_AUDIT_RETENTION: '90' } }), /audit\.retention/);
  });
});
