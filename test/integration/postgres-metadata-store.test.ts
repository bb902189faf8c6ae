import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../../src/config/index.ts';
import { MetadataStore, type NewManifestRecord } from '../../src/metadata/metadata-store.ts';
import { openDatabase } from '../../src/metadata/open-database.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { isRegistryError } from '../../src/oci/errors.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * MetadataStore on PostgreSQL with several writers at once, as several Wharf instances are: each
 * "instance" is a pool of its own. Under READ COMMITTED a row one writer found can be deleted by
 * another before the first links to it; the store must retry or answer with a registry error, and
 * the foreign keys must never be left violated.
 */
describe('MetadataStore on PostgreSQL with concurrent writers', () => {
  let postgres: Postgres;
  let url: string;
  let first: MetadataStore;
  let second: MetadataStore;
  let blob: string;
  const dbs: Kysely<Database>[] = [];

  async function open(): Promise<MetadataStore> {
    const { config } = await loadConfig({ env: { REGISTRY_DATABASE_URL: url } });
    const db = await openDatabase(config.database);
    dbs.push(db);
    return new MetadataStore(db);
  }

  function manifest(repository: string, tag: string | undefined, label = randomBytes(8).toString('hex')) {
    const payload = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: blob }, label }));
    const record: NewManifestRecord = {
      repository,
      digest: digestOf(payload),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: undefined,
      payload,
      subjectDigest: undefined,
      annotations: undefined,
      blobDigests: [blob],
      childDigests: [],
      tag,
    };
    return record;
  }

  /** A raw connection for holding locks the way another instance's transaction would. */
  async function rawClient(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return client;
  }

  async function danglingRows(): Promise<number> {
    const [row] = await postgres.query<{ count: string }>(
      new URL(url).pathname.slice(1),
      `select (select count(*) from tags t left join manifests m on m.id = t.manifest_id where m.id is null)
            + (select count(*) from manifest_blobs mb left join manifests m on m.id = mb.manifest_id where m.id is null)
            + (select count(*) from manifest_blobs mb left join blobs b on b.digest = mb.digest where b.digest is null)
            as count`,
    );
    return Number(row?.count);
  }

  before(async () => {
    postgres = await startPostgres();
    url = await postgres.createDatabase();
    [first, second] = await Promise.all([open(), open()]);
    const bytes = randomBytes(64);
    blob = digestOf(bytes);
    await first.commitBlob('team/app', blob, bytes.length);
  });

  after(async () => {
    for (const db of dbs) await db.destroy();
    await postgres?.stop();
  });

  it('reads sizes and times back as numbers', async () => {
    assert.equal(await first.findBlob(blob), 64);
    const record = manifest('team/app', 'numbers');
    await first.putManifest(record);
    const found = await second.findManifestByTag('team/app', 'numbers');
    assert.equal(found?.size, record.payload.length);
    assert.equal(typeof found?.size, 'number');
    await first.createUpload('upload-1', 'team/app');
    const upload = await second.findUpload('upload-1');
    assert.equal(typeof upload?.startedAt, 'number');
    assert.ok(Math.abs((upload?.startedAt ?? 0) - Date.now()) < 60_000);
  });

  it('tags again a manifest that another writer deletes while the tag is being written', async () => {
    const record = manifest('team/app', 'v1');
    await first.putManifest(record);
    // Another instance's DELETE: it has locked the manifest row, and deletes it once the push waits on it.
    const other = await rawClient();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM manifests WHERE digest = $1 FOR UPDATE', [record.digest]);
      const push = first.putManifest({ ...record, tag: 'v2' });
      await sleep(300);
      await other.query('DELETE FROM manifests WHERE digest = $1', [record.digest]);
      await other.query('COMMIT');
      await push;
    } finally {
      await other.end();
    }
    // The delete came first (and took the v1 tag with it); the push came after and stands.
    assert.equal((await second.findManifestByTag('team/app', 'v2'))?.digest, record.digest);
    assert.equal(await second.findManifestByTag('team/app', 'v1'), undefined);
    assert.equal(await danglingRows(), 0);
  });

  it('stores a manifest whose earlier copy another writer is deleting', async () => {
    const record = manifest('team/app', 'v3');
    await first.putManifest(record);
    const other = await rawClient();
    try {
      await other.query('BEGIN');
      await other.query('DELETE FROM manifests WHERE digest = $1', [record.digest]);
      const push = first.putManifest({ ...record, tag: 'v4' });
      await sleep(300);
      await other.query('COMMIT');
      await push;
    } finally {
      await other.end();
    }
    assert.equal((await second.loadManifestByTag('team/app', 'v4'))?.payload.equals(record.payload), true);
    assert.equal(await danglingRows(), 0);
  });

  it('answers MANIFEST_BLOB_UNKNOWN when the blob is unlinked before the manifest commits', async () => {
    const bytes = randomBytes(32);
    const digest = digestOf(bytes);
    await first.commitBlob('team/unlinked', digest, bytes.length);
    const other = await rawClient();
    const record = { ...manifest('team/unlinked', 'v1'), blobDigests: [digest] };
    try {
      await other.query('BEGIN');
      await other.query(
        'DELETE FROM repository_blobs WHERE digest = $1 AND repository_id = (SELECT id FROM repositories WHERE name = $2)',
        [digest, 'team/unlinked'],
      );
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    await assert.rejects(first.putManifest(record), (error: unknown) => {
      assert.ok(isRegistryError(error), String(error));
      assert.equal(error.code, 'MANIFEST_BLOB_UNKNOWN');
      assert.equal(error.status, 400);
      return true;
    });
  });

  it('survives pushes of one tag, deletes of its manifests and blob commits racing from two instances', async () => {
    const records = Array.from({ length: 6 }, () => manifest('team/race', 'latest'));
    const failures: unknown[] = [];
    const guard = async (work: Promise<unknown>) => {
      try {
        await work;
      } catch (error) {
        // A registry error with a 4xx status is a clean answer; anything else would be a 500.
        if (!(isRegistryError(error) && error.status < 500)) failures.push(error);
      }
    };
    await first.commitBlob('team/race', blob, 64);
    for (let round = 0; round < 15; round++) {
      const operations: Promise<unknown>[] = [];
      for (const [index, record] of records.entries()) {
        const store = index % 2 === 0 ? first : second;
        const other = index % 2 === 0 ? second : first;
        operations.push(guard(store.putManifest(record)));
        operations.push(guard(other.deleteManifest('team/race', records[(index + 1) % records.length]?.digest ?? '')));
        operations.push(guard(other.commitBlob(`team/race-${index}`, blob, 64)));
        operations.push(guard(store.linkExistingBlob(`team/race-${index + 1}`, blob)));
      }
      await Promise.all(operations);
    }
    assert.deepEqual(failures, []);
    assert.equal(await danglingRows(), 0);
    // Whatever won, the tag (if it survived the deletes) names one of the pushed manifests.
    const tagged = await first.findManifestByTag('team/race', 'latest');
    if (tagged) assert.ok(records.some((record) => record.digest === tagged.digest));
    // A last push settles it.
    const last = records[0] as NewManifestRecord;
    await second.putManifest(last);
    assert.equal((await first.findManifestByTag('team/race', 'latest'))?.digest, last.digest);
  });
});
