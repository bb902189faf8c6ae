import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import {
  adminApi,
  allTasks,
  type ExecutionBody,
  eventually,
  pushTestImage,
  startReplicationWharf,
  type Target,
  tagDigest,
  waitForExecution,
  wharfTarget,
} from '../helpers/replication.ts';
import type { WharfProcess } from '../helpers/wharf.ts';

/**
 * Two instances sharing PostgreSQL, Redis, the blob directory and http.secret: an execution
 * queued on one runs on exactly one of them, a schedule fires once per time however many
 * instances have it, and credentials stored through one are usable by the other.
 */
let work: string;
let postgres: Postgres;
let redis: RedisServer;
let reference: ReferenceRegistry;
const instances: WharfProcess[] = [];
let remote: Target;
let endpointId: number;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'wharf-replication-instances-'));
  [postgres, redis, reference] = await Promise.all([startPostgres(), startRedis(), startReferenceRegistry()]);
  remote = { url: reference.url };
  const env = {
    REGISTRY_DATABASE_URL: await postgres.createDatabase(),
    REGISTRY_REDIS_ADDR: redis.address,
    REGISTRY_HTTP_SECRET: 'replication-instances-secret',
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(work, 'storage'),
  };
  for (const index of [0, 1]) {
    const dataDir = join(work, `instance-${index}`);
    await mkdir(dataDir);
    // One after the other: the first creates the schema and the administrator.
    instances.push(await startReplicationWharf({ dataDir, env }));
  }
  const created = await adminApi<{ id: number }>(instances[0]!.url, 'POST', '/registries', 201, {
    name: 'distribution',
    url: reference.url,
    credential: { type: 'basic', access_key: 'someone', access_secret: 'sealed-by-instance-0' },
  });
  endpointId = created.body.id;
});

after(async () => {
  await Promise.all(instances.map((instance) => instance.close()));
  await Promise.all([postgres?.stop(), redis?.stop(), reference?.close()]);
  await rm(work, { recursive: true, force: true });
});

test('credentials stored through one instance are opened by the other', async () => {
  const ping = await adminApi<{ healthy: boolean }>(instances[1]!.url, 'POST', '/registries/ping', 200, {
    id: endpointId,
  });
  assert.equal(ping.body.healthy, true);
});

test('each execution runs on exactly one instance', async () => {
  const started: number[] = [];
  for (const index of [0, 1, 2, 3]) {
    await pushTestImage(remote, `many/app-${index}`, 'v1');
    const policy = await adminApi<{ id: number }>(instances[index % 2]!.url, 'POST', '/replication/policies', 201, {
      name: `app-${index}`,
      src_registry: { id: endpointId },
      filters: [{ type: 'name', value: `many/app-${index}` }],
    });
    const execution = await adminApi<ExecutionBody>(instances[index % 2]!.url, 'POST', '/replication/executions', 201, {
      policy_id: policy.body.id,
    });
    started.push(execution.body.id);
  }
  for (const id of started) {
    const done = await waitForExecution(instances[0]!.url, id);
    assert.equal(done.status, 'succeeded', done.status_text);
    const tasks = await allTasks(instances[1]!.url, id);
    assert.equal(tasks.length, 1, 'one task: the tag was copied once');
  }
  const runners = await Promise.all(
    started.map(
      async (id) =>
        (await adminApi<{ instance: string }>(instances[0]!.url, 'GET', `/replication/executions/${id}`, 200)).body
          .instance,
    ),
  );
  for (const runner of runners) assert.match(runner, /^.+-\d+-[0-9a-f]{6}$/);
  for (const index of [0, 1, 2, 3]) {
    assert.ok(await tagDigest(wharfTarget(instances[0]!), `many/app-${index}`, 'v1'));
  }
});

test('a schedule fires once per time across instances', async () => {
  await pushTestImage(remote, 'scheduled/app', 'v1');
  const body = {
    name: 'every-second',
    src_registry: { id: endpointId },
    filters: [{ type: 'name', value: 'scheduled/app' }],
    trigger: { type: 'scheduled', trigger_settings: { cron: '* * * * * *' } },
  };
  const policy = await adminApi<{ id: number }>(instances[1]!.url, 'POST', '/replication/policies', 201, body);
  const since = Date.now();
  const executions = async () =>
    (
      await adminApi<ExecutionBody[]>(
        instances[0]!.url,
        'GET',
        `/replication/executions?policy_id=${policy.body.id}&page_size=100`,
        200,
      )
    ).body;
  // The other instance learns of the new policy within its refresh interval (10 s).
  await eventually('executions have run', async () => (await executions()).length >= 6, 30_000);
  await adminApi(instances[0]!.url, 'PUT', `/replication/policies/${policy.body.id}`, 200, { ...body, enabled: false });
  const elapsedSeconds = (Date.now() - since) / 1000;
  const all = await executions();
  assert.ok(
    all.length <= Math.ceil(elapsedSeconds) + 1,
    `${all.length} executions in ${elapsedSeconds.toFixed(1)} s: at most one per firing`,
  );
  await eventually('every execution has ended', async () =>
    (await executions()).every((execution) => execution.status !== 'pending' && execution.status !== 'running'),
  );
  for (const execution of await executions()) assert.equal(execution.status, 'succeeded', execution.status_text);
});
