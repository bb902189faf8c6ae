import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, basicOf, type Credentials, createProject, pushBlobAs } from '../helpers/auth.ts';
import {
  distributionEvents,
  EventReceiver,
  type ReceivedDelivery,
  type ReceiverAnswer,
} from '../helpers/event-receiver.ts';
import { randomBlob, send } from '../helpers/http.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Delivery when the receiver misbehaves: answers 500, answers too late, keeps failing until the
 * circuit opens, until attempts run out (dead letters), and comes back for a redelivery through
 * the API. Each endpoint has a path of its own on one receiver, told how to answer per path.
 */
const admin: Credentials = { username: 'admin', password: 'retries-admin-password' };

interface DeliveryRow {
  id: number;
  event_id: string;
  action: string;
  state: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
}

describe('event delivery retries', () => {
  let receiver: EventReceiver;
  let wharf: WharfProcess;
  /** A registry of its own for the circuit breaker, where retries never run out. */
  let patient: WharfProcess;
  /** How each path answers; a test sets its own, keyed on its repository in the body. */
  const answers = new Map<string, (delivery: ReceivedDelivery) => ReceiverAnswer>();
  /** The requests to `path` that carry an event of `repository` (every endpoint gets every test's events). */
  const about = (path: string, repository: string) =>
    receiver.at(path).filter((delivery) => delivery.body.includes(`"${repository}"`));

  before(async () => {
    receiver = await EventReceiver.start();
    receiver.answerWith((delivery) => answers.get(delivery.path)?.(delivery) ?? { status: 200 });
    // Retries come back within a fraction of a second; the third failed attempt is the last.
    const endpoint = (name: string, extra = '', ignored = 'pull') =>
      `    - name: ${name}\n      url: ${receiver.url(`/${name}`)}\n      ignore:\n        actions: [${ignored}]\n${extra}`;
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: `
auth:
  projects:
    enabled: true
notifications:
  delivery:
    maxattempts: 3
    retrydelay: 100ms
    maxretrydelay: 300ms
  endpoints:
${endpoint('flaky')}
${endpoint('slow', '      timeout: 300ms\n')}
${endpoint('dead', '      format: harbor\n', 'pull, project.created, repository.created')}
`,
    });
    patient = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: `
auth:
  projects:
    enabled: true
notifications:
  delivery:
    maxattempts: 20
    retrydelay: 100ms
    maxretrydelay: 300ms
  endpoints:
${endpoint('broken', '      threshold: 2\n      backoff: 3s\n')}
`,
    });
    await createProject(wharf.url, admin, 'retries');
    await createProject(patient.url, admin, 'retries');
  });

  after(async () => {
    await patient?.close();
    await wharf?.close();
    await receiver?.stop();
  });

  /** Pushes blobs into a repository of its own, one event per blob for every endpoint. */
  async function pushBlobs(repository: string, count: number, registry = wharf): Promise<string[]> {
    const digests: string[] = [];
    for (let index = 0; index < count; index++) {
      digests.push(await pushBlobAs(registry.url, repository, randomBlob(64), basicOf(admin)));
    }
    return digests;
  }

  async function deliveries(endpoint: string, state?: string, registry = wharf): Promise<DeliveryRow[]> {
    const query = state === undefined ? '?page_size=100' : `?page_size=100&state=${state}`;
    const result = await api(registry.url, 'GET', `/notifications/endpoints/${endpoint}/deliveries${query}`, {
      as: admin,
    });
    assert.equal(result.status, 200, result.text());
    return result.json<DeliveryRow[]>();
  }

  async function metric(name: string): Promise<number> {
    const text = (await send(`${wharf.url}/metrics`)).text();
    const line = text.split('\n').find((candidate) => candidate.startsWith(name));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  it('retries after the receiver answers 500, until it accepts', async () => {
    answers.set('/flaky', () => ({ status: about('/flaky', 'retries/flaky').length <= 2 ? 500 : 202 }));
    const [digest] = await pushBlobs('retries/flaky', 1);
    await receiver.waitFor(() => about('/flaky', 'retries/flaky').length >= 3, 'three attempts at /flaky');
    const events = about('/flaky', 'retries/flaky').flatMap(
      (delivery) => delivery.json<{ events: { id: string; target: { digest: string } }[] }>().events,
    );
    assert.equal(new Set(events.map((event) => event.id)).size, 1, 'the same event every time');
    assert.equal(events[0]?.target.digest, digest);
    await waitUntil(async () => (await deliveries('flaky'))[0]?.state === 'delivered', 'delivered');
    const [row] = await deliveries('flaky');
    assert.equal(row?.attempts, 3);
    assert.equal(row?.last_status, 202);
    assert.equal(row?.last_error, null);
    const failures = 'wharf_webhook_deliveries_total{subscriber="endpoint",outcome="failure",reason="http_5xx"}';
    assert.ok((await metric(failures)) >= 2);
  });

  it('retries a delivery the receiver did not answer within the timeout', async () => {
    answers.set('/slow', () =>
      about('/slow', 'retries/slow').length === 1 ? { status: 200, delayMs: 1_500 } : { status: 200 },
    );
    await pushBlobs('retries/slow', 1);
    await receiver.waitFor(() => about('/slow', 'retries/slow').length >= 2, 'a second attempt at /slow');
    const [first, second] = about('/slow', 'retries/slow');
    assert.ok(first && second);
    assert.equal(second.headers['x-wharf-event-id'], first.headers['x-wharf-event-id']);
    assert.ok(second.at - first.at >= 300, `retried ${second.at - first.at} ms after the first attempt`);
    await waitUntil(async () => (await deliveries('slow'))[0]?.state === 'delivered', 'delivered');
    const [row] = await deliveries('slow');
    assert.equal(row?.attempts, 2);
    const timeouts = 'wharf_webhook_deliveries_total{subscriber="endpoint",outcome="failure",reason="timeout"}';
    assert.ok((await metric(timeouts)) >= 1);
  });

  it('backs off an endpoint after `threshold` consecutive failures (circuit breaker)', async () => {
    // Only this registry delivers to /broken, and only this test's events.
    answers.set('/broken', () => ({ status: 503 }));
    await pushBlobs('retries/broken', 4, patient);
    await receiver.waitFor(() => receiver.at('/broken').length >= 2, 'two failures at /broken');
    const opened = receiver.at('/broken')[1]?.at ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Attempts are spent only by requests actually made: one per event each request carried.
    const carried = distributionEvents(receiver, '/broken').length;
    const pending = await deliveries('broken', 'pending', patient);
    assert.equal(pending.length, 4, 'nothing is given up while the circuit is open');
    assert.equal(
      pending.reduce((sum, row) => sum + row.attempts, 0),
      carried,
    );
    // While the circuit is open (3 s) nothing is sent, though deliveries are due.
    await receiver.waitFor(() => receiver.at('/broken').length >= 3, 'the trial request after the backoff', 10_000);
    const trial = receiver.at('/broken')[2]?.at ?? 0;
    assert.ok(trial - opened >= 2_800, `the next request came ${trial - opened} ms after the circuit opened`);
    answers.set('/broken', () => ({ status: 200 }));
    await waitUntil(
      async () => (await deliveries('broken', 'delivered', patient)).length === 4,
      'all four delivered once the endpoint recovers',
      20_000,
    );
  });

  it('makes a delivery a dead letter after maxattempts, and redelivers it through the API', async () => {
    let failing = true;
    answers.set('/dead', (delivery) => ({ status: failing && delivery.body.includes('"retries/dead"') ? 500 : 200 }));
    const digests = await pushBlobs('retries/dead', 2);
    await waitUntil(async () => (await deliveries('dead', 'dead')).length === 2, 'two dead letters');
    assert.equal(about('/dead', 'retries/dead').length, 6, 'three attempts each, then no more');
    const dead = await deliveries('dead', 'dead');
    for (const row of dead) {
      assert.equal(row.attempts, 3);
      assert.equal(row.last_status, 500);
      assert.equal(row.last_error, 'the receiver answered 500');
    }
    assert.ok((await metric('wharf_webhook_dead_letters_total{subscriber="endpoint"}')) >= 2);
    assert.ok((await metric('wharf_events_outbox_dead')) >= 2);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(about('/dead', 'retries/dead').length, 6, 'dead letters are not retried on their own');

    failing = false;
    const [one] = dead;
    assert.ok(one);
    const single = await api(wharf.url, 'POST', `/notifications/endpoints/dead/deliveries/${one.id}/redeliver`, {
      as: admin,
    });
    assert.equal(single.status, 202, single.text());
    await receiver.waitFor(() => about('/dead', 'retries/dead').length === 7, 'the redelivery');
    const again = about('/dead', 'retries/dead')[6];
    assert.equal(again?.headers['x-wharf-event-id'], one.event_id, 'a redelivery has the same id');
    const bulk = await api(wharf.url, 'POST', '/notifications/endpoints/dead/deliveries/redeliver', { as: admin });
    assert.equal(bulk.status, 202, bulk.text());
    assert.deepEqual(bulk.json(), { redelivered: 1 });
    await waitUntil(async () => about('/dead', 'retries/dead').length === 8, 'the second redelivery');
    await waitUntil(async () => (await deliveries('dead', 'dead')).length === 0, 'no dead letter left');
    const rows = (await deliveries('dead')).filter((row) => dead.some((letter) => letter.id === row.id));
    assert.deepEqual(
      rows.map((row) => [row.state, row.attempts, row.last_status]),
      [
        ['delivered', 1, 200],
        ['delivered', 1, 200],
      ],
      'a redelivery starts from its first attempt',
    );
    const redelivered = about('/dead', 'retries/dead')
      .slice(-2)
      .map((delivery) => delivery.json<{ event_data: { resources: { digest: string }[] } }>())
      .map((payload) => payload.event_data.resources[0]?.digest);
    assert.deepEqual(redelivered.sort(), [...digests].sort());
    const unknown = await api(wharf.url, 'POST', '/notifications/endpoints/dead/deliveries/999999/redeliver', {
      as: admin,
    });
    assert.equal(unknown.status, 404);
    const noEndpoint = await api(wharf.url, 'GET', '/notifications/endpoints/nowhere/deliveries', { as: admin });
    assert.equal(noEndpoint.status, 404);
  });
});

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
