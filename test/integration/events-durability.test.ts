import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { distributionEvents, EventReceiver } from '../helpers/event-receiver.ts';
import { pushImage } from '../helpers/http.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * No event is lost to a crash: the registry is killed with SIGKILL while its receiver is down, and
 * again while a delivery is in flight; after each restart the receiver gets every event the
 * outbox held, each at least once.
 */
describe('events survive SIGKILL', () => {
  let receiver: EventReceiver;
  let wharf: WharfProcess | undefined;
  let configYaml: string;
  let dataDir: string;

  before(async () => {
    receiver = await EventReceiver.start();
    configYaml = `
notifications:
  delivery:
    retrydelay: 100ms
    maxretrydelay: 500ms
    maxattempts: 1000
  endpoints:
    - name: durable
      url: ${receiver.url('/durable')}
      timeout: 3s
`;
  });

  after(async () => {
    await wharf?.close();
    await receiver?.stop();
    // The restarted registry was given its data directory, so closing it keeps the directory.
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** The event ids in the outbox, read from the SQLite file the way an operator would. */
  function outboxIds(): string[] {
    const database = new SQLite(join(dataDir, 'wharf.db'), { readonly: true, fileMustExist: true });
    try {
      return (database.prepare('SELECT id FROM event_outbox ORDER BY occurred_at').all() as { id: string }[]).map(
        (row) => row.id,
      );
    } finally {
      database.close();
    }
  }

  function receivedIds(): Set<string> {
    return new Set(distributionEvents(receiver, '/durable').map((event) => event.id));
  }

  it('delivers events recorded while the receiver was down, after a SIGKILL and a restart', async () => {
    await receiver.stop();
    wharf = await startWharf({ configYaml });
    dataDir = wharf.dataDir;
    for (let index = 0; index < 3; index++) await pushImage(wharf.url, 'durable/app', `v${index}`);
    // Each push is acknowledged only once its events are committed with it.
    const recorded = outboxIds();
    assert.equal(recorded.length, 9, 'two blobs and a manifest per image');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await wharf.kill();

    await receiver.listen();
    wharf = await startWharf({ configYaml, dataDir });
    await receiver.waitFor(() => recorded.every((id) => receivedIds().has(id)), 'every recorded event', 30_000);
    assert.equal(receiver.deliveries.length > 0, true);
    assert.deepEqual([...receivedIds()].sort(), [...recorded].sort(), 'nothing but the recorded events');
  });

  it('delivers again an event whose delivery was in flight when the registry was killed', async () => {
    const before = receiver.deliveries.length;
    // The receiver takes its time: the registry is killed while it waits for the answer.
    receiver.answerWith(() => ({ status: 200, delayMs: 2_000 }));
    const pushed = await pushImage(wharf?.url ?? '', 'durable/inflight', 'v1');
    await receiver.waitFor(
      (deliveries) =>
        deliveries
          .slice(before)
          .some((delivery) => delivery.body.toString().includes(`"tag":"v1"`) && delivery.body.includes(pushed.digest)),
      'the manifest push in flight',
    );
    await wharf?.kill();
    const seenBeforeKill = receiver.deliveries.length;
    receiver.answerWith(() => ({ status: 200 }));

    wharf = await startWharf({ configYaml, dataDir });
    const recorded = outboxIds();
    const manifestEvents = () =>
      distributionEvents(receiver, '/durable').filter(
        (event) => event.target.digest === pushed.digest && event.action === 'push',
      );
    // The killed instance's lease lapses (its timeout plus a margin); then the delivery is taken again.
    await receiver.waitFor(() => manifestEvents().length >= 2, 'the manifest push delivered again', 40_000);
    await receiver.waitFor(() => recorded.every((id) => receivedIds().has(id)), 'every recorded event');
    assert.equal(new Set(manifestEvents().map((event) => event.id)).size, 1, 'under the one id to deduplicate on');
    assert.ok(receiver.deliveries.length > seenBeforeKill);
  });
});
