import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventReceiver } from '../helpers/event-receiver.ts';
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
  storedEndpoints,
  type Target,
  type TestImage,
  type TestIndex,
  tagDigest,
  waitForExecution,
  wharfTarget,
} from '../helpers/replication.ts';
import type { WharfProcess } from '../helpers/wharf.ts';

/**
 * Pull-mode replication policies through the management API, from CNCF Distribution 2.8.2 (no
 * referrers API: referrers come from its fallback tags) into Wharf: endpoints and their secrets,
 * filters, namespace rewriting, indexes with referrers, override, stopping, tasks and metrics.
 */
let reference: ReferenceRegistry;
let wharf: WharfProcess;
let remote: Target;
let local: Target;
let endpointId: number;
const images: Record<string, TestImage> = {};
let nginx: TestIndex;
let receiver: EventReceiver;

before(async () => {
  reference = await startReferenceRegistry();
  receiver = await EventReceiver.start();
  wharf = await startReplicationWharf({
    configYaml: [
      'notifications:',
      '  endpoints:',
      '    - name: events',
      `      url: ${receiver.url()}`,
      '      format: cloudevents',
      '',
    ].join('\n'),
  });
  remote = { url: reference.url };
  local = wharfTarget(wharf);
  images['alpine:3.19'] = await pushTestImage(remote, 'library/alpine', '3.19');
  images['alpine:3.20'] = await pushTestImage(remote, 'library/alpine', '3.20');
  images['alpine:edge'] = await pushTestImage(remote, 'library/alpine', 'edge');
  images['team/app:v1'] = await pushTestImage(remote, 'team/app', 'v1');
  nginx = await pushTestIndex(remote, 'library/nginx', '1.27', { fallbackTag: true });
});

after(async () => {
  await wharf?.close();
  await reference?.close();
  await receiver?.stop();
});

describe('registry endpoints', () => {
  test('are created with a secret that is never returned, and tested', async () => {
    const created = await adminApi<{ id: number; credential: Record<string, unknown>; url: string }>(
      wharf.url,
      'POST',
      '/registries',
      201,
      {
        name: 'distribution',
        url: `${reference.url}/`,
        credential: { type: 'basic', access_key: 'replicator', access_secret: 'very-secret-value' },
      },
    );
    endpointId = created.body.id;
    assert.equal(created.result.headers.get('location'), `/api/v1/registries/${endpointId}`);
    assert.equal(created.body.url, reference.url, 'the trailing slash is dropped');
    assert.deepEqual(created.body.credential, { type: 'basic', access_key: 'replicator', has_secret: true });
    const listed = await adminApi<unknown[]>(wharf.url, 'GET', '/registries', 200);
    assert.equal(listed.result.headers.get('x-total-count'), '1');
    assert.ok(!listed.result.text().includes('very-secret-value'), 'the secret is not in any answer');

    const healthy = await adminApi<{ healthy: boolean }>(wharf.url, 'POST', '/registries/ping', 200, {
      id: endpointId,
    });
    assert.deepEqual(healthy.body, { healthy: true, api_version: 'registry/2.0' });
    const dead = await adminApi<{ healthy: boolean; message: string }>(wharf.url, 'POST', '/registries/ping', 200, {
      url: 'http://127.0.0.1:1',
    });
    assert.equal(dead.body.healthy, false);
    assert.match(dead.body.message, /ECONNREFUSED|refused/);

    await adminApi(wharf.url, 'POST', '/registries', 409, { name: 'distribution', url: reference.url });
    await adminApi(wharf.url, 'POST', '/registries', 400, { name: 'bad', url: 'ftp://example.com' });
  });

  test('are for administrators only', async () => {
    const anonymous = await send(`${wharf.url}/api/v1/registries`);
    assert.equal(anonymous.status, 401);
  });

  test('are described in the OpenAPI document, without the secret in any answer', async () => {
    const document = await send(`${wharf.url}/api/v1/openapi.json`);
    assert.equal(document.status, 200);
    const paths = document.json<{ paths: Record<string, Record<string, { tags: string[] }>> }>().paths;
    for (const [path, method] of [
      ['/registries', 'post'],
      ['/registries/ping', 'post'],
      ['/registries/{id}', 'put'],
      ['/replication/policies/{id}', 'delete'],
      ['/replication/executions', 'post'],
      ['/replication/executions/{id}', 'put'],
      ['/replication/executions/{id}/tasks', 'get'],
    ] as const) {
      assert.deepEqual(paths[path]?.[method]?.tags, ['replication'], `${method} ${path}`);
    }
    const answer = JSON.stringify(paths['/registries/{id}']?.get);
    assert.ok(answer.includes('has_secret') && !answer.includes('access_secret'));
  });

  test('are stored encrypted', async () => {
    const stored = JSON.stringify(await storedEndpoints(wharf.dataDir));
    assert.ok(stored.includes('replicator'), 'the access key is stored');
    assert.match(stored, /"access_secret":"v1:/, 'the secret is stored sealed');
    assert.ok(!stored.includes('very-secret-value'), 'the secret is not stored in clear');
  });
});

describe('a pull policy', () => {
  let policyId: number;
  let execution: ExecutionBody;

  test('is validated', async () => {
    const base = { name: 'bad', src_registry: { id: endpointId } };
    await adminApi(wharf.url, 'POST', '/replication/policies', 400, { ...base, dest_registry: { id: endpointId } });
    await adminApi(wharf.url, 'POST', '/replication/policies', 400, {
      ...base,
      trigger: { type: 'scheduled', trigger_settings: { cron: 'not a cron' } },
    });
    await adminApi(wharf.url, 'POST', '/replication/policies', 400, { ...base, trigger: { type: 'event_based' } });
    await adminApi(wharf.url, 'POST', '/replication/policies', 400, { ...base, src_registry: { id: 999 } });
  });

  test('copies what its filters select, under the rewritten namespace', async () => {
    const created = await adminApi<{ id: number; direction: string }>(wharf.url, 'POST', '/replication/policies', 201, {
      name: 'mirror-library',
      src_registry: { id: endpointId },
      filters: [
        { type: 'name', value: 'library/**' },
        { type: 'tag', value: '{3.*,1.*}' },
        { type: 'tag', value: '3.19', decoration: 'excludes' },
      ],
      dest_namespace: 'mirror',
      dest_namespace_replace_count: 1,
      concurrency: 2,
    });
    policyId = created.body.id;
    assert.equal(created.body.direction, 'pull');
    const started = await adminApi<ExecutionBody>(wharf.url, 'POST', '/replication/executions', 201, {
      policy_id: policyId,
    });
    assert.equal(started.body.trigger, 'manual');
    execution = await waitForExecution(wharf.url, started.body.id);
    assert.equal(execution.status, 'succeeded', execution.status_text);
    assert.equal(execution.total, 2);
    assert.equal(execution.succeeded, 2);

    const tasks = await allTasks(wharf.url, execution.id);
    assert.deepEqual(tasks.map((task) => [task.src_resource, task.dst_resource, task.status]).sort(), [
      ['library/alpine:3.20', 'mirror/alpine:3.20', 'succeeded'],
      ['library/nginx:1.27', 'mirror/nginx:1.27', 'succeeded'],
    ]);
    for (const task of tasks) {
      assert.ok(task.bytes > 0, `${task.src_resource} counted its bytes`);
      assert.equal(task.attempts, 1);
      assert.equal(typeof task.duration_ms, 'number');
    }
    assert.equal(tasks.find((task) => task.src_resource === 'library/nginx:1.27')?.digest, nginx.digest);

    assert.equal(await tagDigest(local, 'mirror/alpine', '3.20'), images['alpine:3.20']?.digest);
    assert.equal(await tagDigest(local, 'mirror/alpine', '3.19'), undefined, 'excluded by the tag filter');
    assert.equal(await tagDigest(local, 'mirror/alpine', 'edge'), undefined, 'not selected by the tag filter');
    assert.equal(await tagDigest(local, 'mirror/app', 'v1'), undefined, 'not selected by the name filter');
  });

  test('brings whole indexes with their referrers, byte for byte', async () => {
    const index = await fetchFrom(local, `/v2/mirror/nginx/manifests/1.27`, MediaType.ociIndex);
    assert.equal(index.status, 200);
    assert.deepEqual(index.body, nginx.bytes);
    for (const image of nginx.images) {
      const child = await fetchFrom(local, `/v2/mirror/nginx/manifests/${image.digest}`, MediaType.ociManifest);
      assert.equal(child.status, 200);
      assert.deepEqual(child.body, image.manifest);
      for (const layer of image.layers) {
        const blob = await fetchFrom(local, `/v2/mirror/nginx/blobs/${layer.digest}`);
        assert.equal(blob.status, 200);
        assert.equal(blob.body.length, layer.size);
      }
    }
    const referrers = await fetchFrom(local, `/v2/mirror/nginx/referrers/${nginx.digest}`);
    assert.equal(referrers.status, 200);
    const listed = referrers.json<{ manifests: { digest: string; artifactType: string }[] }>().manifests;
    assert.deepEqual(
      listed.map((entry) => [entry.digest, entry.artifactType]),
      [[nginx.referrer.digest, 'application/vnd.example.signature']],
    );
  });

  test('lists executions and tasks page by page', async () => {
    const executions = await adminApi<ExecutionBody[]>(
      wharf.url,
      'GET',
      `/replication/executions?policy_id=${policyId}`,
      200,
    );
    assert.deepEqual(
      executions.body.map((item) => item.id),
      [execution.id],
    );
    const page = await adminApi<unknown[]>(
      wharf.url,
      'GET',
      `/replication/executions/${execution.id}/tasks?page=1&page_size=1`,
      200,
    );
    assert.equal(page.body.length, 1);
    assert.equal(page.result.headers.get('x-total-count'), '2');
    assert.match(page.result.headers.get('link') ?? '', /page=2&page_size=1>; rel="next"/);
    await adminApi(wharf.url, 'GET', `/replication/executions/${execution.id}/tasks/999999`, 404);
    await adminApi(wharf.url, 'PUT', `/replication/executions/${execution.id}`, 412);
  });

  test('a second run finds everything there and transfers no blob', async () => {
    const started = await adminApi<ExecutionBody>(wharf.url, 'POST', '/replication/executions', 201, {
      policy_id: policyId,
    });
    const again = await waitForExecution(wharf.url, started.body.id);
    assert.equal(again.status, 'succeeded', again.status_text);
    assert.equal(again.succeeded, 2);
    assert.ok(again.bytes < execution.bytes / 2, `${again.bytes} bytes the second time, ${execution.bytes} the first`);
  });

  test('with override off keeps a destination tag that names other content', async () => {
    const mine = await pushTestImage(local, 'kept/alpine', '3.20');
    const created = await adminApi<{ id: number }>(wharf.url, 'POST', '/replication/policies', 201, {
      name: 'no-override',
      src_registry: { id: endpointId },
      filters: [{ type: 'name', value: 'library/alpine' }],
      dest_namespace: 'kept',
      dest_namespace_replace_count: 1,
      override: false,
    });
    const started = await adminApi<ExecutionBody>(wharf.url, 'POST', '/replication/executions', 201, {
      policy_id: created.body.id,
    });
    const done = await waitForExecution(wharf.url, started.body.id);
    assert.equal(done.status, 'succeeded', done.status_text);
    const tasks = await allTasks(wharf.url, done.id);
    const kept = tasks.find((task) => task.dst_resource === 'kept/alpine:3.20');
    assert.equal(kept?.status, 'skipped');
    assert.match(kept?.error ?? '', /override is off/);
    assert.equal(await tagDigest(local, 'kept/alpine', '3.20'), mine.digest, 'the destination tag is unchanged');
    assert.equal(await tagDigest(local, 'kept/alpine', '3.19'), images['alpine:3.19']?.digest, 'new tags are copied');
    assert.deepEqual(tasks.map((task) => task.status).sort(), ['skipped', 'succeeded', 'succeeded']);
  });

  test('can be stopped while it runs', async () => {
    await pushTestImage(remote, 'slow/big', 'v1', { layerSizes: [3 * 1024 * 1024] });
    const created = await adminApi<{ id: number }>(wharf.url, 'POST', '/replication/policies', 201, {
      name: 'slow',
      src_registry: { id: endpointId },
      filters: [{ type: 'name', value: 'slow/big' }],
      speed: 256 * 1024,
    });
    const started = await adminApi<ExecutionBody>(wharf.url, 'POST', '/replication/executions', 201, {
      policy_id: created.body.id,
    });
    await waitForExecution(wharf.url, started.body.id, ['running']);
    await new Promise((done) => setTimeout(done, 1500));
    const stopping = await adminApi<ExecutionBody & { stop_requested: boolean }>(
      wharf.url,
      'PUT',
      `/replication/executions/${started.body.id}`,
      200,
    );
    assert.equal(stopping.body.stop_requested, true);
    const stopped = await waitForExecution(wharf.url, started.body.id, ['stopped', 'succeeded', 'failed'], 15_000);
    assert.equal(stopped.status, 'stopped', stopped.status_text);
    const [task] = await allTasks(wharf.url, stopped.id);
    assert.equal(task?.status, 'stopped');
    assert.ok((task?.bytes ?? 0) < 3 * 1024 * 1024, 'the transfer was cut short');
    assert.equal(await tagDigest(local, 'slow/big', 'v1'), undefined);
    await adminApi(wharf.url, 'DELETE', `/replication/policies/${created.body.id}`, 204);
    await adminApi(wharf.url, 'GET', `/replication/executions/${started.body.id}`, 404);
  });

  test('shows in the metrics', async () => {
    const metrics = await send(`${wharf.url}/metrics`);
    const text = metrics.text();
    assert.match(text, /wharf_replication_executions_total\{trigger="manual",status="succeeded"\} 3/);
    assert.match(text, /wharf_replication_executions_total\{trigger="manual",status="stopped"\} 1/);
    assert.match(text, /wharf_replication_tasks_total\{operation="copy",status="skipped"\} 1/);
    const bytes = /wharf_replication_bytes_total\{direction="pull"\} (\d+)/.exec(text);
    assert.ok(bytes && Number(bytes[1]) > execution.bytes, 'bytes are counted');
  });

  test('publishes replication.finished events', async () => {
    await eventually('the events arrived', async () =>
      receiver.deliveries.some((delivery) => delivery.body.toString().includes('mirror-library')),
    );
    const finished = receiver.deliveries
      .map((delivery) => delivery.body.toString())
      // CloudEvents name replication.finished as Harbor does.
      .filter((body) => body.includes('"type":"harbor.replication.status.changed"') && body.includes('mirror-library'));
    assert.ok(finished.length >= 1);
    assert.match(finished[0] ?? '', /"status":"succeeded"/);
    assert.match(finished[0] ?? '', /"direction":"pull"/);
  });

  test('an endpoint in use cannot be deleted', async () => {
    await adminApi(wharf.url, 'DELETE', `/registries/${endpointId}`, 409);
  });
});
