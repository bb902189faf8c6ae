import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { distributionEvents, EventReceiver } from '../helpers/event-receiver.ts';
import { MediaType, pushImage, send } from '../helpers/http.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Two instances sharing one PostgreSQL database and one storage directory, both delivering the
 * outbox: in normal operation every event reaches the receiver exactly once, whichever instance
 * recorded it and whichever delivered it (leases taken with FOR UPDATE SKIP LOCKED).
 */
describe('two instances deliver each event once', () => {
  let work: string;
  let postgres: Postgres;
  let receiver: EventReceiver;
  let databaseUrl: string;
  const instances: WharfProcess[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-events-ha-'));
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase();
    receiver = await EventReceiver.start();
    const storage = join(work, 'storage');
    await mkdir(storage);
    const configYaml = `
notifications:
  pulls:
    flushinterval: 200ms
  delivery:
    batchsize: 5
  endpoints:
    - name: shared
      url: ${receiver.url('/shared')}
    - name: webhook-style
      url: ${receiver.url('/single')}
      format: harbor
`;
    for (const index of [0, 1]) {
      const dataDir = join(work, `instance-${index}`);
      await mkdir(dataDir);
      instances.push(
        await startWharf({
          dataDir,
          configYaml,
          env: {
            REGISTRY_DATABASE_URL: databaseUrl,
            REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: storage,
            REGISTRY_HTTP_SECRET: 'events-ha-shared-secret',
            REGISTRY_NOTIFICATIONS_INSTANCEID: `instance-${index}`,
          },
        }),
      );
    }
  });

  after(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    await receiver?.stop();
    await postgres?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes and pulls through both instances; the receiver sees every event id exactly once', async () => {
    const [first, second] = instances;
    assert.ok(first && second);
    const pushes = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        pushImage((index % 2 === 0 ? first : second).url, `ha/app-${index % 3}`, `v${index}`),
      ),
    );
    for (const [index, pushed] of pushes.entries()) {
      const pulled = await send(
        `${(index % 2 === 0 ? second : first).url}/v2/ha/app-${index % 3}/manifests/v${index}`,
        { headers: { accept: MediaType.ociManifest } },
      );
      assert.equal(pulled.status, 200);
      assert.equal(pulled.headers.get('docker-content-digest'), pushed.digest);
    }
    // For the Distribution-format endpoint: two blobs, a manifest and a pull per image. The Harbor-format
    // one also gets the tags and repositories created.
    const expected = pushes.length * 4;
    const events = () => distributionEvents(receiver, '/shared');
    await receiver.waitFor(() => events().length >= expected, `${expected} events at /shared`, 30_000);
    const database = new URL(databaseUrl).pathname.slice(1);
    const undelivered = async () =>
      Number(
        (
          await postgres.query<{ count: string }>(
            database,
            "SELECT count(*) AS count FROM event_deliveries WHERE state <> 'delivered'",
          )
        )[0]?.count,
      );
    const deadline = Date.now() + 30_000;
    while ((await undelivered()) > 0) {
      assert.ok(Date.now() < deadline, 'the outbox drains');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Whatever arrived twice would show by now.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const recorded = await postgres.query<{ subscriber: string; event_id: string }>(
      database,
      'SELECT subscriber, event_id FROM event_deliveries',
    );
    const recordedFor = (subscriber: string) =>
      recorded
        .filter((row) => row.subscriber === subscriber)
        .map((row) => row.event_id)
        .sort();

    const ids = events().map((event) => event.id);
    assert.equal(ids.length, expected, 'each event delivered once to the batching endpoint');
    assert.deepEqual([...ids].sort(), recordedFor('endpoint:shared'));
    const singleIds = receiver.at('/single').map((delivery) => String(delivery.headers['x-wharf-event-id']));
    assert.equal(singleIds.length, new Set(singleIds).size, 'each event delivered once to the single-event endpoint');
    assert.deepEqual([...singleIds].sort(), recordedFor('endpoint:webhook-style'));
    assert.equal(singleIds.length, expected + pushes.length + 3, 'and the 8 tags and 3 repositories created');

    // Both instances' workers took part, and together they made exactly one delivery per row.
    const delivered = await Promise.all(
      instances.map(async (instance) => {
        const text = (await send(`${instance.url}/metrics`)).text();
        const line = text
          .split('\n')
          .find((candidate) =>
            candidate.startsWith('wharf_webhook_deliveries_total{subscriber="endpoint",outcome="success"'),
          );
        return Number(line?.slice(line.lastIndexOf(' ') + 1) ?? 0);
      }),
    );
    assert.ok(
      delivered.every((count) => count > 0),
      `deliveries per instance: ${delivered.join(', ')}`,
    );
    assert.equal(
      delivered.reduce((sum, count) => sum + count, 0),
      recorded.length,
    );
    const producers = new Set(events().map((event) => event.source.instanceID));
    assert.deepEqual([...producers].sort(), ['instance-0', 'instance-1'], 'both instances recorded events');
    const pushesSeen = events().filter((event) => event.action === 'push' && event.target.tag !== undefined);
    assert.deepEqual(
      pushesSeen.map((event) => event.target.digest).sort(),
      pushes.map((pushed) => pushed.digest).sort(),
    );
  });
});
