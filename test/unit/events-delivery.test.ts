import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NotificationEndpointConfig } from '../../src/config/config.ts';
import { CircuitBreaker } from '../../src/events/delivery/circuit-breaker.ts';
import { cloudEventType, distributionAction, webhookEventType } from '../../src/events/delivery/event-types.ts';
import { harborPayload } from '../../src/events/delivery/payloads/harbor-payload.ts';
import { renderPayload } from '../../src/events/delivery/payloads/render-payload.ts';
import { retryDelayMs } from '../../src/events/delivery/retry-schedule.ts';
import { endpointSubscribers } from '../../src/events/endpoint-subscribers.ts';
import { type EventAction, eventActions, type RegistryEvent } from '../../src/events/event.ts';

function event(action: EventAction, target: RegistryEvent['target'] = {}): RegistryEvent {
  return {
    id: '6f9d1c1e-2a51-4a8f-9a53-6d0f2b1f7c11',
    timestamp: '2025-03-01T10:00:00.000Z',
    action,
    target,
    actor: { name: 'alice', kind: 'local', address: '10.0.0.7' },
    request: { id: 'req-1', addr: '10.0.0.7', host: 'registry.example.com', method: 'PUT', useragent: 'docker/27' },
    source: { instanceID: 'node-1', addr: 'node-1:5000' },
  };
}

function endpoint(overrides: Partial<NotificationEndpointConfig> = {}): NotificationEndpointConfig {
  return {
    name: 'listener',
    url: 'https://hooks.example.com/events',
    disabled: false,
    headers: {},
    timeout: 1_000,
    threshold: 10,
    backoff: 1_000,
    ignoredmediatypes: [],
    ignore: { mediatypes: [], actions: [] },
    format: 'distribution',
    ...overrides,
  };
}

const manifestTarget = {
  project: 'team',
  repository: 'team/app',
  digest: 'sha256:aaaa',
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 420,
  url: 'https://registry.example.com/v2/team/app/manifests/sha256:aaaa',
  tag: 'v1',
};

describe('retry delays', () => {
  const schedule = { initialDelayMs: 1_000, maxDelayMs: 60_000 };

  it('double from the initial delay, half fixed and half random', () => {
    assert.equal(
      retryDelayMs(1, schedule, () => 0),
      500,
    );
    assert.equal(
      retryDelayMs(1, schedule, () => 1),
      1_000,
    );
    assert.equal(
      retryDelayMs(2, schedule, () => 1),
      2_000,
    );
    assert.equal(
      retryDelayMs(4, schedule, () => 0.5),
      6_000,
    );
  });

  it('never exceed the maximum, however many attempts', () => {
    assert.equal(
      retryDelayMs(30, schedule, () => 1),
      60_000,
    );
    assert.equal(
      retryDelayMs(5_000, schedule, () => 1),
      60_000,
    );
    assert.equal(
      retryDelayMs(30, schedule, () => 0),
      30_000,
    );
  });
});

describe('circuit breaker', () => {
  it('opens after `threshold` consecutive failures, lets one trial through after the backoff', () => {
    let now = 0;
    const breaker = new CircuitBreaker(3, 1_000, () => now);
    assert.equal(breaker.failed(), false);
    assert.equal(breaker.failed(), false);
    assert.equal(breaker.allows(), true);
    assert.equal(breaker.failed(), true, 'the third failure opens it');
    assert.equal(breaker.state(), 'open');
    assert.equal(breaker.allows(), false);
    now = 999;
    assert.equal(breaker.allows(), false);
    now = 1_000;
    assert.equal(breaker.state(), 'half-open');
    assert.equal(breaker.allows(), true);
    breaker.begin();
    assert.equal(breaker.allows(), false, 'one trial at a time');
    assert.equal(breaker.failed(), true, 'a failed trial opens it again');
    assert.equal(breaker.allows(), false);
    now = 2_000;
    breaker.begin();
    breaker.succeeded();
    assert.equal(breaker.state(), 'closed');
    assert.equal(breaker.failed(), false, 'a success resets the count');
  });
});

describe('event names', () => {
  it('every action has a webhook type and a CloudEvents type, distinct from the others', () => {
    const webhook = eventActions.map(webhookEventType);
    const cloud = eventActions.map(cloudEventType);
    assert.equal(new Set(webhook).size, eventActions.length);
    assert.equal(new Set(cloud).size, eventActions.length);
    assert.equal(webhookEventType('manifest.pushed'), 'PUSH_ARTIFACT');
    assert.equal(webhookEventType('quota.exceeded'), 'QUOTA_EXCEED');
    assert.equal(cloudEventType('manifest.deleted'), 'harbor.artifact.deleted');
    assert.equal(cloudEventType('quota.near'), 'harbor.quota.warned');
  });

  it("only Distribution's own events have a Distribution action", () => {
    const sent = eventActions.filter((action) => distributionAction(action) !== undefined);
    assert.deepEqual(sent, [
      'manifest.pushed',
      'manifest.pulled',
      'manifest.deleted',
      'tag.deleted',
      'blob.pushed',
      'blob.pulled',
      'blob.mounted',
      'blob.deleted',
      'repository.deleted',
    ]);
  });
});

describe('endpoint filters', () => {
  it('leave disabled endpoints out', () => {
    assert.deepEqual(
      endpointSubscribers([endpoint(), endpoint({ name: 'off', disabled: true })]).map((subscriber) => subscriber.key),
      ['endpoint:listener'],
    );
  });

  it("give a Distribution-format endpoint only Distribution's events", () => {
    const [subscriber] = endpointSubscribers([endpoint()]);
    assert.ok(subscriber);
    assert.equal(subscriber.wants(event('manifest.pushed', manifestTarget)), true);
    assert.equal(subscriber.wants(event('tag.created', manifestTarget)), false);
    assert.equal(subscriber.wants(event('login.failed')), false);
  });

  it('ignore media types (both keys) and actions (Distribution and Wharf names)', () => {
    const [subscriber] = endpointSubscribers([
      endpoint({
        format: 'harbor',
        ignoredmediatypes: ['application/octet-stream'],
        ignore: { mediatypes: ['application/vnd.oci.image.index.v1+json'], actions: ['pull', 'login.failed'] },
      }),
    ]);
    assert.ok(subscriber);
    assert.equal(
      subscriber.wants(event('blob.pushed', { repository: 'a', mediaType: 'application/octet-stream' })),
      false,
    );
    assert.equal(
      subscriber.wants(
        event('manifest.pushed', { ...manifestTarget, mediaType: 'application/vnd.oci.image.index.v1+json' }),
      ),
      false,
    );
    assert.equal(subscriber.wants(event('manifest.pulled', manifestTarget)), false, '`pull` covers manifest.pulled');
    assert.equal(subscriber.wants(event('login.failed')), false);
    assert.equal(subscriber.wants(event('manifest.pushed', manifestTarget)), true);
    assert.equal(subscriber.wants(event('gc.finished')), true, 'registry-wide events in a Wharf format');
  });
});

describe('payloads', () => {
  it("render Distribution's envelope, carrying several events", () => {
    const [subscriber] = endpointSubscribers([endpoint()]);
    assert.ok(subscriber);
    const rendered = renderPayload(
      subscriber,
      [event('manifest.pushed', manifestTarget), event('tag.deleted', { repository: 'team/app', tag: 'old' })],
      () => undefined,
    );
    assert.equal(rendered.contentType, 'application/vnd.docker.distribution.events.v2+json');
    assert.deepEqual(JSON.parse(rendered.body.toString()), {
      events: [
        {
          id: '6f9d1c1e-2a51-4a8f-9a53-6d0f2b1f7c11',
          timestamp: '2025-03-01T10:00:00.000Z',
          action: 'push',
          target: {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            size: 420,
            digest: 'sha256:aaaa',
            length: 420,
            repository: 'team/app',
            url: 'https://registry.example.com/v2/team/app/manifests/sha256:aaaa',
            tag: 'v1',
          },
          request: {
            id: 'req-1',
            addr: '10.0.0.7',
            host: 'registry.example.com',
            method: 'PUT',
            useragent: 'docker/27',
          },
          actor: { name: 'alice' },
          source: { addr: 'node-1:5000', instanceID: 'node-1' },
        },
        {
          id: '6f9d1c1e-2a51-4a8f-9a53-6d0f2b1f7c11',
          timestamp: '2025-03-01T10:00:00.000Z',
          action: 'delete',
          target: { repository: 'team/app', tag: 'old' },
          request: {
            id: 'req-1',
            addr: '10.0.0.7',
            host: 'registry.example.com',
            method: 'PUT',
            useragent: 'docker/27',
          },
          actor: { name: 'alice' },
          source: { addr: 'node-1:5000', instanceID: 'node-1' },
        },
      ],
    });
  });

  it("render Harbor's payload with a push by digest named by its digest, and details as attributes", () => {
    const { tag: _tag, ...byDigest } = manifestTarget;
    assert.deepEqual(
      harborPayload(event('manifest.pushed', byDigest), { public: true, createdAt: 1_700_000_000_500 }),
      {
        type: 'PUSH_ARTIFACT',
        occur_at: 1_740_823_200,
        operator: 'alice',
        event_data: {
          resources: [
            { digest: 'sha256:aaaa', tag: 'sha256:aaaa', resource_url: 'registry.example.com/team/app@sha256:aaaa' },
          ],
          repository: {
            date_created: 1_700_000_000,
            name: 'app',
            namespace: 'team',
            repo_full_name: 'team/app',
            repo_type: 'public',
          },
        },
      },
    );
    const gc = { ...event('gc.finished'), details: { blobsDeleted: 3, dryRun: false } };
    assert.deepEqual(harborPayload(gc, undefined), {
      type: 'GC_COMPLETED',
      occur_at: 1_740_823_200,
      operator: 'alice',
      event_data: { custom_attributes: { blobsDeleted: '3', dryRun: 'false' } },
    });
  });

  it('refuse to put several events into a single-event format', () => {
    const [subscriber] = endpointSubscribers([endpoint({ format: 'cloudevents' })]);
    assert.ok(subscriber);
    assert.throws(() => renderPayload(subscriber, [event('gc.finished'), event('gc.finished')], () => undefined));
  });
});
