import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MediaType, send } from '../helpers/http.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import {
  adminApi,
  allTasks,
  type ExecutionBody,
  eventually,
  fetchFrom,
  pushTestImage,
  pushTestIndex,
  startReplicationWharf,
  type Target,
  tagDigest,
  waitForExecution,
  wharfTarget,
} from '../helpers/replication.ts';
import type { WharfProcess } from '../helpers/wharf.ts';

/**
 * Push-mode replication from Wharf to CNCF Distribution 2.8.2: on push (event-based), with
 * deletions propagated, surviving the remote being killed and restarted mid-run; and the cron
 * schedule trigger.
 */
let reference: ReferenceRegistry;
let wharf: WharfProcess;
let remote: Target;
let local: Target;
let endpointId: number;

before(async () => {
  reference = await startReferenceRegistry();
  wharf = await startReplicationWharf();
  remote = { url: reference.url };
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

describe('an event-based push policy', () => {
  before(async () => {
    await adminApi(wharf.url, 'POST', '/replication/policies', 201, {
      name: 'on-push',
      dest_registry: { id: endpointId },
      filters: [{ type: 'name', value: 'apps/**' }],
      dest_namespace: 'replica',
      trigger: { type: 'event_based' },
      deletion: true,
    });
  });

  test('replicates a pushed image once the push is committed', async () => {
    const image = await pushTestImage(local, 'apps/web', '1');
    await eventually(
      'the image is on the remote',
      async () => (await tagDigest(remote, 'replica/apps/web', '1')) === image.digest,
    );
    const manifest = await fetchFrom(remote, '/v2/replica/apps/web/manifests/1', MediaType.ociManifest);
    assert.deepEqual(manifest.body, image.manifest);
    const layer = image.layers[0];
    assert.ok(layer);
    const blob = await fetchFrom(remote, `/v2/replica/apps/web/blobs/${layer.digest}`);
    assert.equal(blob.status, 200);
    assert.equal(blob.body.length, layer.size);
    const { body: executions } = await adminApi<ExecutionBody[]>(
      wharf.url,
      'GET',
      '/replication/executions?trigger=event_based',
      200,
    );
    assert.ok(executions.length >= 1);
    assert.ok(executions.every((execution) => execution.trigger === 'event_based'));
  });

  test('replicates an index and, through the fallback tag, a referrer pushed after it', async () => {
    const index = await pushTestIndex(local, 'apps/api', 'multi', { fallbackTag: false });
    await eventually(
      'the index is on the remote',
      async () => (await tagDigest(remote, 'replica/apps/api', 'multi')) === index.digest,
    );
    for (const image of index.images) {
      const child = await fetchFrom(remote, `/v2/replica/apps/api/manifests/${image.digest}`, MediaType.ociManifest);
      assert.equal(child.status, 200);
    }
    const fallbackTag = index.digest.replace(':', '-');
    await eventually('the referrer is listed by the fallback tag', async () => {
      const listed = await fetchFrom(remote, `/v2/replica/apps/api/manifests/${fallbackTag}`, MediaType.ociIndex);
      if (listed.status !== 200) return false;
      const manifests = listed.json<{ manifests: { digest: string }[] }>().manifests;
      return manifests.some((entry) => entry.digest === index.referrer.digest);
    });
    const referrer = await fetchFrom(
      remote,
      `/v2/replica/apps/api/manifests/${index.referrer.digest}`,
      MediaType.ociManifest,
    );
    assert.deepEqual(referrer.body, index.referrer.bytes);
  });

  test('leaves repositories its filters do not select', async () => {
    await pushTestImage(local, 'other/thing', '1');
    const marker = await pushTestImage(local, 'apps/marker', '1');
    await eventually(
      'a later push is replicated',
      async () => (await tagDigest(remote, 'replica/apps/marker', '1')) === marker.digest,
    );
    assert.equal(await tagDigest(remote, 'replica/other/thing', '1'), undefined);
    assert.equal(await tagDigest(remote, 'other/thing', '1'), undefined);
  });

  test('propagates tag and manifest deletions', async () => {
    const image = await pushTestImage(local, 'apps/gone', 'old');
    await eventually(
      'the image is on the remote',
      async () => (await tagDigest(remote, 'replica/apps/gone', 'old')) === image.digest,
    );
    const deleted = await send(`${wharf.url}/v2/apps/gone/manifests/old`, {
      method: 'DELETE',
      headers: { authorization: local.authorization ?? '' },
    });
    assert.equal(deleted.status, 202);
    await eventually(
      'the tag is gone from the remote',
      async () => (await tagDigest(remote, 'replica/apps/gone', 'old')) === undefined,
    );
    const manifest = await fetchFrom(remote, `/v2/replica/apps/gone/manifests/${image.digest}`, MediaType.ociManifest);
    assert.equal(manifest.status, 404);

    const second = await pushTestImage(local, 'apps/gone', 'new');
    await eventually(
      'the second image is on the remote',
      async () => (await tagDigest(remote, 'replica/apps/gone', 'new')) === second.digest,
    );
    const byDigest = await send(`${wharf.url}/v2/apps/gone/manifests/${second.digest}`, {
      method: 'DELETE',
      headers: { authorization: local.authorization ?? '' },
    });
    assert.equal(byDigest.status, 202);
    await eventually(
      'the manifest is gone from the remote',
      async () => (await tagDigest(remote, 'replica/apps/gone', 'new')) === undefined,
    );
    const { body: executions } = await adminApi<ExecutionBody[]>(
      wharf.url,
      'GET',
      '/replication/executions?page_size=100',
      200,
    );
    const deletions = (await Promise.all(executions.map((execution) => allTasks(wharf.url, execution.id))))
      .flat()
      .filter((task) => task.operation === 'deletion');
    assert.deepEqual(deletions.map((task) => [task.dst_resource, task.status]).sort(), [
      ['replica/apps/gone:old', 'succeeded'],
      [`replica/apps/gone@${second.digest}`, 'succeeded'],
    ]);
  });
});

describe('a manual push policy', () => {
  test('retries after the remote is killed and restarted mid-run', async () => {
    const big = await pushTestImage(local, 'big/data', 'v1', { layerSizes: [3 * 1024 * 1024, 1024 * 1024] });
    const small = await pushTestImage(local, 'big/small', 'v1');
    const policy = await adminApi<{ id: number }>(wharf.url, 'POST', '/replication/policies', 201, {
      name: 'big',
      dest_registry: { id: endpointId },
      filters: [{ type: 'name', value: 'big/*' }],
      speed: 1024 * 1024,
      concurrency: 1,
    });
    const started = await adminApi<ExecutionBody>(wharf.url, 'POST', '/replication/executions', 201, {
      policy_id: policy.body.id,
    });
    await waitForExecution(wharf.url, started.body.id, ['running']);
    await new Promise((done) => setTimeout(done, 1200));
    const port = Number(new URL(reference.url).port);
    await reference.kill();
    // Longer than the registry client's own retries of one request: the task has to be tried again.
    await new Promise((done) => setTimeout(done, 9000));
    reference = await startReferenceRegistry({ root: reference.root, port });
    const done = await waitForExecution(wharf.url, started.body.id, ['succeeded', 'failed', 'stopped'], 60_000);
    assert.equal(done.status, 'succeeded', done.status_text);
    const tasks = await allTasks(wharf.url, done.id);
    assert.equal(tasks.length, 2);
    assert.ok(
      tasks.some((task) => task.attempts >= 2),
      `a task was tried again: ${JSON.stringify(tasks.map((task) => [task.src_resource, task.attempts]))}`,
    );
    assert.equal(await tagDigest(remote, 'big/data', 'v1'), big.digest);
    assert.equal(await tagDigest(remote, 'big/small', 'v1'), small.digest);
    for (const layer of big.layers) {
      const blob = await fetchFrom(remote, `/v2/big/data/blobs/${layer.digest}`);
      assert.equal(blob.status, 200);
      assert.equal(blob.body.length, layer.size);
    }
  });
});

describe('a scheduled policy', () => {
  test('runs on its cron schedule until it is disabled', async () => {
    await pushTestImage(remote, 'scheduled/app', 'v1');
    const body = {
      name: 'every-second',
      src_registry: { id: endpointId },
      filters: [{ type: 'name', value: 'scheduled/app' }],
      trigger: { type: 'scheduled', trigger_settings: { cron: '* * * * * *' } },
    };
    const policy = await adminApi<{ id: number; trigger: unknown }>(
      wharf.url,
      'POST',
      '/replication/policies',
      201,
      body,
    );
    assert.deepEqual(policy.body.trigger, { type: 'scheduled', trigger_settings: { cron: '* * * * * *' } });
    const scheduled = async () =>
      (
        await adminApi<ExecutionBody[]>(
          wharf.url,
          'GET',
          `/replication/executions?policy_id=${policy.body.id}&page_size=100`,
          200,
        )
      ).body;
    await eventually('two scheduled executions succeeded', async () => {
      const executions = await scheduled();
      return executions.filter((execution) => execution.status === 'succeeded').length >= 2;
    });
    assert.ok((await scheduled()).every((execution) => execution.trigger === 'scheduled'));
    assert.ok((await tagDigest(local, 'scheduled/app', 'v1')) !== undefined);

    await adminApi(wharf.url, 'PUT', `/replication/policies/${policy.body.id}`, 200, { ...body, enabled: false });
    await new Promise((done) => setTimeout(done, 1500));
    const settled = (await scheduled()).length;
    await new Promise((done) => setTimeout(done, 2500));
    assert.equal((await scheduled()).length, settled, 'no execution starts once the policy is disabled');
    await adminApi(wharf.url, 'POST', '/replication/executions', 412, { policy_id: policy.body.id });
  });
});
