import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  api,
  basic,
  basicOf,
  type Credentials,
  call,
  createProject,
  getManifestAs,
  pushImageAs,
  type SmallImage,
} from '../helpers/auth.ts';
import { type DistributionEvent, distributionEvents, EventReceiver } from '../helpers/event-receiver.ts';
import { MediaType } from '../helpers/http.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * The three payload formats as a receiver sees them, from real pushes, pulls, deletes, a failed
 * login and a project creation: Distribution's envelope on configured endpoints (with and without
 * ignore rules), Harbor's payload and CloudEvents on a project's webhook policies, signatures,
 * and the delivery logs through the API.
 */
const admin: Credentials = { username: 'admin', password: 'events-admin-password' };
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const harborSecret = 'harbor-signing-secret-1';
const endpointSecret = 'endpoint-signing-secret';

function signatureOf(secret: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

interface HarborPayload {
  type: string;
  occur_at: number;
  operator: string;
  event_data: {
    resources?: { digest: string; tag: string; resource_url: string }[];
    repository?: Record<string, unknown>;
    custom_attributes?: Record<string, string>;
  };
}

describe('event payloads', () => {
  let receiver: EventReceiver;
  let wharf: WharfProcess;
  let image: SmallImage;
  let harborPolicy: number;
  let cloudEventsPolicy: number;
  let projectId: number;

  before(async () => {
    receiver = await EventReceiver.start();
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: `
auth:
  projects:
    enabled: true
notifications:
  instanceid: wharf-events-test
  pulls:
    flushinterval: 200ms
  endpoints:
    - name: everything
      url: ${receiver.url('/distribution')}
      headers:
        X-Receiver-Token: [distribution-token]
    - name: filtered
      url: ${receiver.url('/filtered')}
      ignoredmediatypes: [application/octet-stream]
      ignore:
        actions: [pull]
    - name: registry-wide
      url: ${receiver.url('/registry-wide')}
      format: cloudevents
      secret: ${endpointSecret}
      ignore:
        actions: [pull, blob.pushed]
    - name: switched-off
      url: ${receiver.url('/disabled')}
      disabled: true
`,
    });
    await createProject(wharf.url, admin, 'team');
    const project = await api(wharf.url, 'GET', '/projects/team', { as: admin });
    projectId = project.json<{ project_id: number }>().project_id;

    const harbor = await api(wharf.url, 'POST', '/projects/team/webhooks', {
      as: admin,
      body: {
        name: 'ci',
        url: receiver.url('/harbor'),
        event_types: ['PUSH_ARTIFACT', 'PULL_ARTIFACT', 'DELETE_ARTIFACT', 'CREATE_TAG'],
        auth_header: 'Bearer hook-token',
        secret: harborSecret,
      },
    });
    assert.equal(harbor.status, 201, harbor.text());
    harborPolicy = harbor.json<{ id: number }>().id;
    const cloudEvents = await api(wharf.url, 'POST', '/projects/team/webhooks', {
      as: admin,
      body: {
        name: 'cloudevents',
        url: receiver.url('/cloudevents'),
        format: 'cloudevents',
        event_types: ['PUSH_ARTIFACT'],
      },
    });
    assert.equal(cloudEvents.status, 201, cloudEvents.text());
    cloudEventsPolicy = cloudEvents.json<{ id: number }>().id;

    const authorization = basicOf(admin);
    image = await pushImageAs(wharf.url, 'team/app', 'v1', authorization);
    const pulled = await getManifestAs(wharf.url, 'team/app', 'v1', authorization);
    assert.equal(pulled.status, 200);
    const deleted = await call(wharf.url, 'DELETE', `/v2/team/app/manifests/${image.digest}`, authorization);
    assert.equal(deleted.status, 202, deleted.text());
    // A name no other suite locks out: the scale-out rerun shares one Redis, where lockouts live.
    const refused = await call(wharf.url, 'GET', '/v2/', basic('intruder', 'wrong-password'));
    assert.equal(refused.status, 401);

    await receiver.waitFor(
      () =>
        distributionEvents(receiver, '/distribution').length >= 6 &&
        receiver.at('/harbor').length >= 4 &&
        receiver
          .at('/registry-wide')
          .some((delivery) => delivery.json<{ type: string }>().type === 'wharf.login.failed'),
      'every delivery',
    );
  });

  after(async () => {
    await wharf?.close();
    await receiver?.stop();
  });

  it("sends Distribution's envelope, each event with Distribution's fields", () => {
    const deliveries = receiver.at('/distribution');
    for (const delivery of deliveries) {
      assert.equal(delivery.headers['content-type'], 'application/vnd.docker.distribution.events.v2+json');
      assert.equal(delivery.headers['x-receiver-token'], 'distribution-token');
      assert.deepEqual(Object.keys(delivery.json<object>()), ['events']);
    }
    const events = distributionEvents(receiver, '/distribution');
    for (const event of events) {
      assert.deepEqual(Object.keys(event), ['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source']);
      assert.match(event.id, uuid);
      assert.ok(!Number.isNaN(Date.parse(event.timestamp)), event.timestamp);
      assert.deepEqual(event.actor, { name: 'admin' });
      assert.deepEqual(event.source, { addr: event.source.addr, instanceID: 'wharf-events-test' });
      assert.match(event.source.addr, new RegExp(`:${new URL(wharf.url).port}$`));
      assert.equal(event.request.host, wharf.host);
      assert.equal(event.request.addr, '127.0.0.1');
      assert.equal(typeof event.request.useragent, 'string');
    }
    assert.equal(new Set(events.map((event) => event.id)).size, events.length, 'every event id is unique');

    const summary = events.map((event) => `${event.action} ${event.target.tag ?? event.target.digest}`).sort();
    assert.deepEqual(
      summary,
      [
        `delete ${image.digest}`,
        'delete v1',
        `pull v1`,
        `push ${image.config.digest}`,
        `push ${image.layer.digest}`,
        'push v1',
      ].sort(),
    );
    const pushed = find(events, 'push', 'v1');
    assert.equal(pushed.request.method, 'PUT');
    assert.deepEqual(pushed.target, {
      mediaType: MediaType.ociManifest,
      size: image.manifest.length,
      digest: image.digest,
      length: image.manifest.length,
      repository: 'team/app',
      url: `${wharf.url}/v2/team/app/manifests/${image.digest}`,
      tag: 'v1',
    });
    const layer = find(events, 'push', image.layer.digest);
    assert.deepEqual(layer.target, {
      mediaType: 'application/octet-stream',
      size: image.layerBytes.length,
      digest: image.layer.digest,
      length: image.layerBytes.length,
      repository: 'team/app',
      url: `${wharf.url}/v2/team/app/blobs/${image.layer.digest}`,
    });
    const pulled = find(events, 'pull', 'v1');
    assert.equal(pulled.request.method, 'GET');
    assert.equal(pulled.target.digest, image.digest);
    assert.equal(find(events, 'delete', image.digest).target.repository, 'team/app');
  });

  it('leaves out what an endpoint ignores, and sends nothing to a disabled one', () => {
    const summary = distributionEvents(receiver, '/filtered')
      .map((event) => `${event.action} ${event.target.tag ?? event.target.digest}`)
      .sort();
    assert.deepEqual(summary, [`delete ${image.digest}`, 'delete v1', 'push v1'].sort());
    assert.equal(receiver.at('/disabled').length, 0);
  });

  it("sends Harbor's payload to a webhook policy, with its Authorization header and a valid signature", () => {
    const deliveries = receiver.at('/harbor');
    const types = deliveries.map((delivery) => delivery.json<HarborPayload>().type).sort();
    assert.deepEqual(types, ['CREATE_TAG', 'DELETE_ARTIFACT', 'PULL_ARTIFACT', 'PUSH_ARTIFACT']);
    for (const delivery of deliveries) {
      assert.equal(delivery.headers['content-type'], 'application/json');
      assert.equal(delivery.headers.authorization, 'Bearer hook-token');
      assert.equal(delivery.headers['x-wharf-signature-256'], signatureOf(harborSecret, delivery.body));
      assert.notEqual(delivery.headers['x-wharf-signature-256'], signatureOf('another-secret', delivery.body));
      assert.match(String(delivery.headers['x-wharf-event-id']), uuid);
    }
    const push = deliveries.find((delivery) => delivery.json<HarborPayload>().type === 'PUSH_ARTIFACT');
    assert.ok(push);
    const payload = push.json<HarborPayload>();
    assert.deepEqual(Object.keys(payload), ['type', 'occur_at', 'operator', 'event_data']);
    assert.ok(Number.isInteger(payload.occur_at) && Math.abs(payload.occur_at - Date.now() / 1000) < 120);
    assert.equal(payload.operator, 'admin');
    const dateCreated = payload.event_data.repository?.date_created;
    assert.ok(Number.isInteger(dateCreated), `date_created ${dateCreated}`);
    assert.deepEqual(payload.event_data, {
      resources: [{ digest: image.digest, tag: 'v1', resource_url: `${wharf.host}/team/app:v1` }],
      repository: {
        date_created: dateCreated,
        name: 'app',
        namespace: 'team',
        repo_full_name: 'team/app',
        repo_type: 'private',
      },
    });
    // The same event reaches every subscriber under the same id: the key to deduplicate on.
    const distributionPush = find(distributionEvents(receiver, '/distribution'), 'push', 'v1');
    assert.equal(push.headers['x-wharf-event-id'], distributionPush.id);

    const deletion = deliveries.find((delivery) => delivery.json<HarborPayload>().type === 'DELETE_ARTIFACT');
    assert.deepEqual(deletion?.json<HarborPayload>().event_data.resources, [
      { digest: image.digest, tag: 'v1', resource_url: `${wharf.host}/team/app:v1` },
    ]);
  });

  it('sends CloudEvents 1.0 in structured mode, only of the types the policy chose (no pulls)', () => {
    const deliveries = receiver.at('/cloudevents');
    assert.equal(deliveries.length, 1, 'one PUSH_ARTIFACT, nothing else');
    const [delivery] = deliveries;
    assert.ok(delivery);
    assert.equal(delivery.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
    assert.equal(delivery.headers['x-wharf-signature-256'], undefined, 'no secret, no signature');
    assert.equal(delivery.headers.authorization, undefined);
    const event = delivery.json<Record<string, unknown>>();
    assert.deepEqual(Object.keys(event), [
      'specversion',
      'id',
      'requestid',
      'source',
      'type',
      'datacontenttype',
      'time',
      'data',
      'operator',
    ]);
    assert.equal(event.specversion, '1.0');
    assert.equal(event.id, delivery.headers['x-wharf-event-id']);
    assert.equal(event.source, `/projects/${projectId}/webhook/policies/${cloudEventsPolicy}`);
    assert.equal(event.type, 'harbor.artifact.pushed');
    assert.equal(event.datacontenttype, 'application/json');
    assert.equal(event.operator, 'admin');
    const data = event.data as HarborPayload['event_data'];
    assert.deepEqual(data.resources, [{ digest: image.digest, tag: 'v1', resource_url: `${wharf.host}/team/app:v1` }]);
    assert.equal(data.repository?.repo_full_name, 'team/app');
  });

  it('sends registry-wide events (a project created, a failed login) to an endpoint in a Wharf format', () => {
    const deliveries = receiver.at('/registry-wide');
    for (const delivery of deliveries) {
      assert.equal(delivery.headers['x-wharf-signature-256'], signatureOf(endpointSecret, delivery.body));
    }
    const events = deliveries.map((delivery) => delivery.json<Record<string, unknown>>());
    const types = events.map((event) => event.type);
    assert.ok(!types.includes('harbor.artifact.pulled'), 'ignore.actions: pull also ignores pulls in this format');
    assert.ok(!types.includes('wharf.blob.pushed'), 'ignore.actions names Wharf actions too');
    assert.ok(types.includes('wharf.repository.created'), types.join());
    assert.ok(types.includes('harbor.artifact.pushed'), types.join());
    const created = events.find((event) => event.type === 'wharf.project.created');
    assert.ok(created, types.join());
    assert.equal(created.operator, 'admin');
    assert.equal(created.source, '/notifications/endpoints/registry-wide');
    assert.deepEqual((created.data as Record<string, unknown>).custom_attributes, { project: 'team' });
    const login = events.find((event) => event.type === 'wharf.login.failed');
    assert.ok(login);
    assert.equal(login.operator, 'intruder');
    assert.deepEqual((login.data as Record<string, unknown>).custom_attributes, {
      method: 'basic',
      reason: 'invalid_credentials',
    });
  });

  it('shows each delivery in the policy and endpoint delivery logs', async () => {
    const log = await api(wharf.url, 'GET', `/projects/team/webhooks/${harborPolicy}/deliveries`, { as: admin });
    assert.equal(log.status, 200, log.text());
    assert.equal(log.headers.get('x-total-count'), '4');
    const rows = log.json<Record<string, unknown>[]>();
    for (const row of rows) {
      assert.equal(row.state, 'delivered');
      assert.equal(row.attempts, 1);
      assert.equal(row.last_status, 200);
      assert.equal(row.last_error, null);
      assert.equal(typeof row.latency_ms, 'number');
      assert.match(String(row.event_id), uuid);
      assert.equal(row.next_attempt_at, null);
    }
    assert.deepEqual(rows.map((row) => row.action).sort(), [
      'manifest.deleted',
      'manifest.pulled',
      'manifest.pushed',
      'tag.created',
    ]);
    const pending = await api(wharf.url, 'GET', `/projects/team/webhooks/${harborPolicy}/deliveries?state=pending`, {
      as: admin,
    });
    assert.deepEqual(pending.json(), []);

    const endpoints = await api(wharf.url, 'GET', '/notifications/endpoints', { as: admin });
    assert.equal(endpoints.status, 200, endpoints.text());
    const byName = new Map(endpoints.json<{ name: string; deliveries: object }[]>().map((row) => [row.name, row]));
    assert.deepEqual([...byName.keys()], ['everything', 'filtered', 'registry-wide']);
    assert.deepEqual(byName.get('filtered')?.deliveries, { pending: 0, delivered: 3, dead: 0 });
    const endpointLog = await api(wharf.url, 'GET', '/notifications/endpoints/everything/deliveries?page_size=2', {
      as: admin,
    });
    assert.equal(endpointLog.status, 200);
    assert.equal(endpointLog.json<unknown[]>().length, 2);
    assert.match(endpointLog.headers.get('link') ?? '', /rel="next"/);
  });

  it('manages policies: validation, conflicts, secrets kept or removed, deletion', async () => {
    const anonymous = await api(wharf.url, 'GET', '/projects/team/webhooks');
    assert.equal(anonymous.status, 401);
    const invalid = await api(wharf.url, 'POST', '/projects/team/webhooks', {
      as: admin,
      body: { name: 'bad', url: receiver.url('/x'), event_types: ['PUSH_EVERYTHING'] },
    });
    assert.equal(invalid.status, 400, invalid.text());
    const badUrl = await api(wharf.url, 'POST', '/projects/team/webhooks', {
      as: admin,
      body: { name: 'bad', url: 'ftp://example.com/', event_types: ['PUSH_ARTIFACT'] },
    });
    assert.equal(badUrl.status, 400, badUrl.text());
    const duplicate = await api(wharf.url, 'POST', '/projects/team/webhooks', {
      as: admin,
      body: { name: 'ci', url: receiver.url('/x'), event_types: ['PUSH_ARTIFACT'] },
    });
    assert.equal(duplicate.status, 409, duplicate.text());
    const missing = await api(wharf.url, 'GET', '/projects/team/webhooks/999999', { as: admin });
    assert.equal(missing.status, 404);

    const listed = await api(wharf.url, 'GET', '/projects/team/webhooks', { as: admin });
    assert.equal(listed.headers.get('x-total-count'), '2');
    const policy = listed.json<Record<string, unknown>[]>().find((row) => row.id === harborPolicy);
    assert.equal(policy?.secret_set, true);
    assert.equal(policy?.auth_header_set, true);
    assert.ok(!('secret' in (policy ?? {})) && !('auth_header' in (policy ?? {})), 'credentials are never shown');

    const renamed = await api(wharf.url, 'PUT', `/projects/team/webhooks/${harborPolicy}`, {
      as: admin,
      body: { name: 'ci-renamed', url: receiver.url('/harbor'), event_types: ['PUSH_ARTIFACT'], auth_header: null },
    });
    assert.equal(renamed.status, 200, renamed.text());
    const changed = renamed.json<Record<string, unknown>>();
    assert.equal(changed.name, 'ci-renamed');
    assert.equal(changed.secret_set, true, 'a secret left out is kept');
    assert.equal(changed.auth_header_set, false, 'null removes the header');
    const clash = await api(wharf.url, 'PUT', `/projects/team/webhooks/${harborPolicy}`, {
      as: admin,
      body: { name: 'cloudevents', url: receiver.url('/harbor'), event_types: ['PUSH_ARTIFACT'] },
    });
    assert.equal(clash.status, 409);

    const openapi = await api(wharf.url, 'GET', '/openapi.json');
    const paths = Object.keys(openapi.json<{ paths: Record<string, unknown> }>().paths);
    for (const path of [
      '/projects/{name}/webhooks',
      '/projects/{name}/webhooks/{id}',
      '/projects/{name}/webhooks/{id}/deliveries',
      '/projects/{name}/webhooks/{id}/deliveries/{delivery}/redeliver',
      '/notifications/endpoints/{endpoint}/deliveries',
    ]) {
      assert.ok(paths.includes(path), `the API document describes ${path}`);
    }

    const removed = await api(wharf.url, 'DELETE', `/projects/team/webhooks/${cloudEventsPolicy}`, { as: admin });
    assert.equal(removed.status, 204);
    const gone = await api(wharf.url, 'GET', `/projects/team/webhooks/${cloudEventsPolicy}/deliveries`, { as: admin });
    assert.equal(gone.status, 404);
  });
});

function find(events: DistributionEvent[], action: string, tagOrDigest: string): DistributionEvent {
  const event = events.find(
    (candidate) => candidate.action === action && (candidate.target.tag ?? candidate.target.digest) === tagOrDigest,
  );
  assert.ok(event, `no ${action} event for ${tagOrDigest}`);
  return event;
}
