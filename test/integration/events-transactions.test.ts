import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import { loadConfig } from '../../src/config/index.ts';
import { endpointSubscribers } from '../../src/events/endpoint-subscribers.ts';
import { EventFactory } from '../../src/events/event-factory.ts';
import { EventPublisher } from '../../src/events/event-publisher.ts';
import { InstanceIdentity } from '../../src/events/instance-identity.ts';
import { OutboxStore } from '../../src/events/outbox/outbox-store.ts';
import { SubscriberDirectory } from '../../src/events/subscriber-directory.ts';
import { WebhookPolicyStore } from '../../src/events/webhooks/webhook-policy-store.ts';
import { MetadataStore } from '../../src/metadata/metadata-store.ts';
import { openDatabase } from '../../src/metadata/open-database.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { RegistryError } from '../../src/oci/errors.ts';
import { distributionEvents, EventReceiver } from '../helpers/event-receiver.ts';
import {
  assertError,
  MediaType,
  ociManifest,
  pushBlob,
  pushImage,
  putManifest,
  sha256,
  startUpload,
} from '../helpers/http.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Events are written in the transaction of the change they describe: a change that commits has its
 * events, one that is refused (here by a listener registered after the outbox's, as a quota or an
 * immutable tag refuses a write) has none, on SQLite and on PostgreSQL. Then the same through the
 * HTTP API: pushes the registry refuses reach no receiver.
 */
for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`the outbox commits with the change (${dialect})`, () => {
    let dir: string;
    let postgres: Postgres | undefined;
    let db: Kysely<Database>;
    let metadata: MetadataStore;
    let publisher: EventPublisher;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'wharf-events-tx-'));
      let env: Record<string, string> = { REGISTRY_DATABASE_PATH: join(dir, 'wharf.db') };
      if (dialect === 'postgres') {
        postgres = await startPostgres();
        env = { REGISTRY_DATABASE_URL: await postgres.createDatabase() };
      }
      const { config } = await loadConfig({ env });
      db = await openDatabase(config.database);
      metadata = new MetadataStore(db);
      const directory = new SubscriberDirectory(
        endpointSubscribers([
          {
            name: 'all',
            url: 'http://127.0.0.1:9/events',
            disabled: false,
            headers: {},
            timeout: 1_000,
            threshold: 10,
            backoff: 1_000,
            ignoredmediatypes: [],
            ignore: { mediatypes: [], actions: [] },
            format: 'cloudevents',
          },
        ]),
        new WebhookPolicyStore(db),
        { timeoutMs: 1_000 },
      );
      const factory = new EventFactory(new InstanceIdentity('transactions'), 'https://registry.example.com');
      publisher = new EventPublisher(db, new OutboxStore(db), directory, factory);
      metadata.addChangeListener(publisher.changeListener());
      metadata.addChangeListener(async (_trx, change) => {
        if (change.repository.startsWith('refused/')) throw new RegistryError('DENIED', 'over quota');
      });
    });

    after(async () => {
      await db?.destroy();
      await postgres?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    async function outbox(repository: string): Promise<{ action: string; subscriber: string }[]> {
      return db
        .selectFrom('event_outbox')
        .innerJoin('event_deliveries', 'event_deliveries.event_id', 'event_outbox.id')
        .select(['event_outbox.action', 'event_deliveries.subscriber'])
        .where('event_outbox.payload', 'like', `%"repository":"${repository}"%`)
        .orderBy('event_deliveries.id')
        .execute();
    }

    it('a committed blob has its events; a refused one has neither blob nor event', async () => {
      const bytes = randomBytes(32);
      await metadata.commitBlob('accepted/app', digestOf(bytes), bytes.length);
      assert.deepEqual(await outbox('accepted/app'), [
        { action: 'repository.created', subscriber: 'endpoint:all' },
        { action: 'blob.pushed', subscriber: 'endpoint:all' },
      ]);

      const refused = randomBytes(32);
      await assert.rejects(metadata.commitBlob('refused/app', digestOf(refused), refused.length), (error) => {
        assert.ok(error instanceof RegistryError && error.code === 'DENIED');
        return true;
      });
      assert.deepEqual(await outbox('refused/app'), []);
      assert.equal(await metadata.findBlob(digestOf(refused)), undefined, 'the blob was rolled back too');
    });

    it('a refused manifest push leaves no manifest.pushed or tag event', async () => {
      const config = randomBytes(16);
      await metadata.commitBlob('accepted/tagged', digestOf(config), config.length);
      const payload = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: digestOf(config) } }));
      const record = {
        digest: digestOf(payload),
        mediaType: MediaType.ociManifest,
        artifactType: undefined,
        payload,
        subjectDigest: undefined,
        annotations: undefined,
        blobDigests: [digestOf(config)],
        childDigests: [],
        tag: 'v1',
      };
      await metadata.putManifest({ ...record, repository: 'accepted/tagged' });
      const actions = (await outbox('accepted/tagged')).map((row) => row.action);
      assert.deepEqual(actions, ['repository.created', 'blob.pushed', 'manifest.pushed', 'tag.created']);
      await assert.rejects(metadata.putManifest({ ...record, repository: 'refused/tagged' }));
      assert.deepEqual(await outbox('refused/tagged'), []);
    });

    it('publishIn commits and rolls back with the caller; publish commits on its own', async () => {
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          await publisher.publishIn(trx, { action: 'gc.finished', details: { run: 'rolled-back' } });
          throw new Error('the caller gives up');
        }),
      );
      const published = await publisher.publish({ action: 'gc.finished', details: { run: 'committed' } });
      const rows = await db
        .selectFrom('event_outbox')
        .select(['id', 'payload'])
        .where('action', '=', 'gc.finished')
        .execute();
      assert.deepEqual(
        rows.map((row) => row.id),
        [published.id],
      );
      const stored = JSON.parse(rows[0]?.payload ?? '{}') as { actor: unknown; details: unknown };
      assert.deepEqual(stored.details, { run: 'committed' });
      assert.deepEqual(stored.actor, { name: '', kind: 'system' });
    });

    it('purges deliveries finished before the retention, orphans, and the events left without any', async () => {
      const publish = (run: string) => publisher.publish({ action: 'gc.finished', details: { run } });
      const [delivered, dead, orphan, pending, recent] = await Promise.all(
        ['old-delivered', 'old-dead', 'old-orphan', 'old-pending', 'recent-delivered'].map(publish),
      );
      assert.ok(delivered && dead && orphan && pending && recent);
      const set = async (id: string, values: { state?: string; subscriber?: string; created_at?: number }) => {
        await db.updateTable('event_deliveries').set(values).where('event_id', '=', id).execute();
        if (values.created_at !== undefined) {
          await db.updateTable('event_outbox').set({ occurred_at: values.created_at }).where('id', '=', id).execute();
        }
      };
      const longAgo = Date.now() - 30 * 24 * 3_600_000;
      await set(delivered.id, { state: 'delivered', created_at: longAgo });
      await set(dead.id, { state: 'dead', created_at: longAgo });
      // Pending for an endpoint that is no longer configured: nobody will ever deliver it.
      await set(orphan.id, { subscriber: 'endpoint:removed', created_at: longAgo });
      await set(pending.id, { created_at: longAgo });
      await set(recent.id, { state: 'delivered' });

      const removed = await new OutboxStore(db).purge(Date.now() - 7 * 24 * 3_600_000, ['endpoint:all']);
      assert.deepEqual(removed, { deliveries: 3, events: 3 });
      const left = await db.selectFrom('event_outbox').select('id').where('action', '=', 'gc.finished').execute();
      const ids = new Set(left.map((row) => row.id));
      assert.ok(ids.has(pending.id) && ids.has(recent.id), 'pending and recent events stay');
      assert.ok(!ids.has(delivered.id) && !ids.has(dead.id) && !ids.has(orphan.id));
    });
  });
}

describe('pushes the registry refuses reach no receiver', () => {
  let receiver: EventReceiver;
  let wharf: WharfProcess;

  before(async () => {
    receiver = await EventReceiver.start();
    wharf = await startWharf({
      configYaml: `notifications:\n  endpoints:\n    - name: all\n      url: ${receiver.url('/all')}\n`,
    });
  });

  after(async () => {
    await wharf?.close();
    await receiver?.stop();
  });

  it('sends no event for a manifest with a missing blob or a blob with a wrong digest', async () => {
    const missing = sha256(randomBytes(16));
    const orphan = Buffer.from(
      JSON.stringify(ociManifest({ config: { mediaType: MediaType.ociConfig, digest: missing, size: 16 } })),
    );
    assertError(
      await putManifest(wharf.url, 'refusals/app', 'v1', orphan, MediaType.ociManifest),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    const bytes = randomBytes(64);
    const upload = await startUpload(wharf.url, 'refusals/app');
    upload.searchParams.set('digest', sha256(randomBytes(64)));
    const wrong = await fetch(upload, {
      method: 'PUT',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(wrong.status, 400);
    await wrong.arrayBuffer();

    // A push that is accepted afterwards shows the receiver is listening, and is all it gets.
    const pushed = await pushImage(wharf.url, 'refusals/app', 'v2');
    await pushBlob(wharf.url, 'refusals/other', bytes);
    await receiver.waitFor(() => distributionEvents(receiver, '/all').length >= 4, 'the accepted pushes');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const events = distributionEvents(receiver, '/all');
    const digests = events.map((event) => event.target.digest);
    assert.ok(!digests.includes(sha256(orphan)), 'no event for the refused manifest');
    assert.ok(!digests.includes(missing));
    assert.deepEqual(
      events.map((event) => `${event.action} ${event.target.tag ?? event.target.digest}`).sort(),
      [`push ${pushed.config.digest}`, `push ${pushed.layers[0]?.digest}`, 'push v2', `push ${sha256(bytes)}`].sort(),
    );
  });
});
