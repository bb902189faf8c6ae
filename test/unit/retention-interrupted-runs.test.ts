import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { LocalJobLocks } from '../../src/coordination/job-lock.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { ProjectStore } from '../../src/metadata/project-store.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { ArtifactInventory } from '../../src/policy/artifact-inventory.ts';
import { ImmutabilityRules } from '../../src/policy/immutability/immutability-rules.ts';
import { RetentionRunner } from '../../src/policy/retention/retention-runner.ts';
import { RetentionScheduler } from '../../src/policy/retention/retention-scheduler.ts';
import { RetentionStore } from '../../src/policy/retention/retention-store.ts';

/** A run left `running` by an instance that died is marked failed by the next scheduler start or tick. */
describe('interrupted retention runs', () => {
  let db: Kysely<Database>;
  let store: RetentionStore;
  let runner: RetentionRunner;
  let projectId: number;
  const logger = pino({ level: 'silent' });

  before(async () => {
    db = await openSqlite(':memory:');
    store = new RetentionStore(db);
    const project = await new ProjectStore(db).createProject({ name: 'crashed', public: false, createdBy: null });
    assert.ok(project);
    projectId = project.id;
    runner = new RetentionRunner({
      db,
      store,
      inventory: new ArtifactInventory(db),
      immutability: new ImmutabilityRules(db),
      deleteManifest: async () => {
        throw new Error('nothing is deleted here');
      },
      locks: new LocalJobLocks(),
      logger,
    });
  });

  after(async () => {
    await runner.close();
    await db.destroy();
  });

  async function orphanRun(): Promise<number> {
    // Recorded as started, then never finished: what a killed process leaves behind.
    const id = await store.startRun(projectId, {
      trigger: 'manual',
      dryRun: false,
      triggeredBy: 'admin',
      scheduledFor: null,
    });
    assert.ok(id !== undefined);
    return id;
  }

  it('leaves a run with a recent heartbeat alone', async () => {
    const id = await orphanRun();
    const scheduler = new RetentionScheduler(store, runner, logger, { abandonedAfterMs: 60_000 });
    await scheduler.start();
    scheduler.stop();
    assert.equal((await store.findRun('crashed', id))?.status, 'running');
  });

  it('marks a run whose heartbeat stopped as failed, interrupted, at startup', async () => {
    const id = await orphanRun();
    await sleep(100);
    const scheduler = new RetentionScheduler(store, runner, logger, { abandonedAfterMs: 50 });
    await scheduler.start();
    scheduler.stop();
    const run = await store.findRun('crashed', id);
    assert.equal(run?.status, 'failed');
    assert.match(run?.error ?? '', /^interrupted: /);
    assert.ok(run?.finishedAt !== null && run?.finishedAt !== undefined);
  });

  it('keeps the heartbeat of a run under way current', async () => {
    const id = await orphanRun();
    const before = await db.selectFrom('retention_runs').select('heartbeat_at').where('id', '=', id).executeTakeFirst();
    await sleep(50);
    await store.heartbeat(id);
    const later = await db.selectFrom('retention_runs').select('heartbeat_at').where('id', '=', id).executeTakeFirst();
    assert.ok(Number(later?.heartbeat_at) > Number(before?.heartbeat_at));
  });
});
