import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { send } from '../helpers/http.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import {
  adminApi,
  allTasks,
  type ExecutionBody,
  pushTestImage,
  startReplicationWharf,
  type Target,
  tagDigest,
  waitForExecution,
  wharfTarget,
} from '../helpers/replication.ts';
import type { WharfProcess } from '../helpers/wharf.ts';

/**
 * Retrying an execution against CNCF Distribution 2.8.2: the remote is read-only during the first
 * execution, so one artifact fails while another is skipped; the retry copies only the failed one.
 */
let reference: ReferenceRegistry;
let wharf: WharfProcess;
let local: Target;
let endpointId: number;

before(async () => {
  reference = await startReferenceRegistry();
  wharf = await startReplicationWharf();
  local = wharfTarget(wharf);
  const created = await adminApi<{ id: number }>(wharf.url, 'POST', '/registries', 201, {
    name: 'distribution',
    url: reference.url,
  });
  endpointId = created.body.id;
});

after(async () => {
  await wharf?.close();
  await reference?.close();
});

describe('retrying an execution', () => {
  test('runs again only the tasks that failed, in a new execution', async () => {
    // The remote's tag names other content and override is off: skipped, in both executions.
    await pushTestImage({ url: reference.url }, 'retry/kept', 'v1');
    await pushTestImage(local, 'retry/kept', 'v1');
    const wanted = await pushTestImage(local, 'retry/copied', 'v1');
    const policy = await adminApi<{ id: number }>(wharf.url, 'POST', '/replication/policies', 201, {
      name: 'retry',
      dest_registry: { id: endpointId },
      filters: [{ type: 'name', value: 'retry/*' }],
      override: false,
    });

    const port = Number(new URL(reference.url).port);
    await reference.kill();
    reference = await startReferenceRegistry({ root: reference.root, port, readOnly: true });
    const first = await adminApi<ExecutionBody>(wharf.url, 'POST', '/replication/executions', 201, {
      policy_id: policy.body.id,
    });
    const failed = await waitForExecution(wharf.url, first.body.id, ['succeeded', 'failed', 'stopped'], 60_000);
    assert.equal(failed.status, 'failed', failed.status_text);
    assert.deepEqual([failed.skipped, failed.failed], [1, 1]);

    await adminApi(wharf.url, 'POST', '/replication/executions/999999/retry', 404);

    await reference.kill();
    reference = await startReferenceRegistry({ root: reference.root, port });
    const retry = await adminApi<ExecutionBody>(
      wharf.url,
      'POST',
      `/replication/executions/${first.body.id}/retry`,
      201,
    );
    assert.equal(retry.result.headers.get('location'), `/api/v1/replication/executions/${retry.body.id}`);
    assert.notEqual(retry.body.id, first.body.id);
    assert.equal(retry.body.status_text, `retry of execution ${first.body.id}`);
    const done = await waitForExecution(wharf.url, retry.body.id, ['succeeded', 'failed', 'stopped'], 60_000);
    assert.equal(done.status, 'succeeded', done.status_text);
    const tasks = await allTasks(wharf.url, done.id);
    assert.deepEqual(
      tasks.map((task) => [task.src_resource, task.status]),
      [['retry/copied:v1', 'succeeded']],
    );
    assert.equal(await tagDigest({ url: reference.url }, 'retry/copied', 'v1'), wanted.digest);

    // Nothing left to retry once every task succeeded or was skipped.
    await adminApi(wharf.url, 'POST', `/replication/executions/${done.id}/retry`, 412);
  });

  test('is described in the OpenAPI document', async () => {
    const document = await send(`${wharf.url}/api/v1/openapi.json`);
    const paths = document.json<{ paths: Record<string, Record<string, { tags: string[] }>> }>().paths;
    assert.deepEqual(paths['/replication/executions/{id}/retry']?.post?.tags, ['replication']);
  });
});
