import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, sql, type Transaction } from 'kysely';
import { RegistryError } from '../oci/errors.ts';
import type { ChangeListener, MetadataChange } from './metadata-changes.ts';
import { isPostgres } from './migrations/column-types.ts';
import type { Database, ManifestRow } from './schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  subjectDigest: string | null;
  annotations: string | null;
}

export interface ManifestWithPayload extends ManifestRecord {
  payload: Buffer;
}

export interface NewManifestRecord {
  repository: string;
  digest: string;
  mediaType: string;
  artifactType: string | undefined;
  payload: Buffer;
  subjectDigest: string | undefined;
  annotations: Record<string, string> | undefined;
  blobDigests: string[];
  childDigests: string[];
  tag: string | undefined;
  /** An index whose children are not all here yet (a pull-through cache fetches them when pulled). */
  childrenMayBeMissing?: boolean;
}

/** What a deleted repository held. */
export interface DeletedRepository {
  manifestDigests: string[];
  /** The blobs linked to it (pushed or mounted there). */
  blobDigests: string[];
}

export interface Page {
  limit: number;
  after: string | undefined;
}

const manifestColumns = [
  'manifests.digest',
  'manifests.media_type',
  'manifests.artifact_type',
  'manifests.size',
  'manifests.subject_digest',
  'manifests.annotations',
] as const;

/**
 * Every metadata question the registry asks, as index lookups. The same queries run on SQLite and
 * PostgreSQL; multi-row invariants (a manifest only with all its blobs, a tag only with its
 * manifest) are enforced inside one transaction each.
 */
export class MetadataStore {
  private readonly listeners: ChangeListener[] = [];

  constructor(readonly db: Kysely<Database>) {}

  /** Registers `listener` to run inside every write transaction, after the write (see ChangeListener). */
  addChangeListener(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('repositories').select('id').limit(1).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async repositoryExists(name: string): Promise<boolean> {
    const row = await this.db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
    return row !== undefined;
  }

  /** The blob's size when the repository may serve it. */
  async findRepositoryBlob(repository: string, digest: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('repository_blobs')
      .innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select('blobs.size')
      .where('repositories.name', '=', repository)
      .where('repository_blobs.digest', '=', digest)
      .where('blobs.deleting_since', 'is', null)
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.size);
  }

  async findBlob(digest: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('blobs')
      .select('size')
      .where('digest', '=', digest)
      .where('deleting_since', 'is', null)
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.size);
  }

  async repositoryHoldsBlob(repository: string, digest: string): Promise<boolean> {
    return (await this.findRepositoryBlob(repository, digest)) !== undefined;
  }

  /** Repositories that hold the blob, by name. */
  async repositoriesHoldingBlob(digest: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('repository_blobs')
      .innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
      .select('repositories.name')
      .where('repository_blobs.digest', '=', digest)
      .orderBy('repositories.name')
      .limit(limit)
      .execute();
    return rows.map((row) => row.name);
  }

  /** Records committed bytes and links them to the repository. */
  async commitBlob(repository: string, digest: string, size: number): Promise<void> {
    await this.writeTransaction(async (trx) => {
      const now = Date.now();
      const inserted = await trx
        .insertInto('blobs')
        .values({ digest, size, created_at: now })
        .onConflict((conflict) => conflict.column('digest').doNothing())
        .executeTakeFirst();
      const newInRepository = await linkBlob(trx, await ensureRepository(trx, repository), digest);
      const newInRegistry = Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
      await this.notify(trx, { type: 'blob.committed', repository, digest, size, newInRegistry, newInRepository });
    });
  }

  /** Links a blob the registry already holds to another repository (cross-repository mount). */
  async linkExistingBlob(repository: string, digest: string): Promise<number | undefined> {
    return this.writeTransaction(async (trx) => {
      const blob = await trx
        .selectFrom('blobs')
        .select('size')
        .where('digest', '=', digest)
        .where('deleting_since', 'is', null)
        .executeTakeFirst();
      if (!blob) return undefined;
      const size = Number(blob.size);
      const newInRepository = await linkBlob(trx, await ensureRepository(trx, repository), digest);
      await this.notify(trx, { type: 'blob.mounted', repository, digest, size, newInRepository });
      return size;
    });
  }

  async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    return this.writeTransaction(async (trx) => {
      const result = await trx
        .deleteFrom('repository_blobs')
        .where('digest', '=', digest)
        .where('repository_id', '=', (query) =>
          query.selectFrom('repositories').select('id').where('name', '=', repository),
        )
        .executeTakeFirst();
      const unlinked = Number(result.numDeletedRows) > 0;
      if (unlinked) await this.notify(trx, { type: 'blob.unlinked', repository, digest });
      return unlinked;
    });
  }

  /**
   * Stores a manifest, its references and its tag in one transaction, after checking that every
   * blob and child manifest it names is present in the repository.
   */
  async putManifest(record: NewManifestRecord): Promise<void> {
    await this.writeTransaction(async (trx) => {
      const repositoryId = await ensureRepository(trx, record.repository);
      await assertPresent(trx, repositoryId, record.blobDigests, 'blob');
      if (!record.childrenMayBeMissing) await assertPresent(trx, repositoryId, record.childDigests, 'manifest');
      const now = Date.now();
      const stored = await trx
        .insertInto('manifests')
        .values({
          repository_id: repositoryId,
          digest: record.digest,
          media_type: record.mediaType,
          artifact_type: record.artifactType ?? null,
          size: record.payload.length,
          payload: record.payload,
          subject_digest: record.subjectDigest ?? null,
          annotations: record.annotations ? JSON.stringify(record.annotations) : null,
          created_at: now,
        })
        .onConflict((conflict) => conflict.columns(['repository_id', 'digest']).doNothing())
        .executeTakeFirst();
      const manifest = await trx
        .selectFrom('manifests')
        .select('id')
        .where('repository_id', '=', repositoryId)
        .where('digest', '=', record.digest)
        .executeTakeFirst();
      // Deleted by another writer between the insert that found it and this read.
      if (manifest === undefined) throw new WriteConflict();
      const blobDigests = [...new Set(record.blobDigests)];
      if (blobDigests.length > 0) {
        await trx
          .insertInto('manifest_blobs')
          .values(blobDigests.map((digest) => ({ manifest_id: manifest.id, digest })))
          .onConflict((conflict) => conflict.columns(['manifest_id', 'digest']).doNothing())
          .execute();
      }
      const childDigests = [...new Set(record.childDigests)];
      if (childDigests.length > 0) {
        await trx
          .insertInto('manifest_references')
          .values(childDigests.map((child_digest) => ({ parent_id: manifest.id, child_digest })))
          .onConflict((conflict) => conflict.columns(['parent_id', 'child_digest']).doNothing())
          .execute();
      }
      let tag: { name: string; previousDigest: string | undefined } | undefined;
      if (record.tag !== undefined) {
        const previous = await trx
          .selectFrom('tags')
          .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
          .select('manifests.digest')
          .where('tags.repository_id', '=', repositoryId)
          .where('tags.name', '=', record.tag)
          .executeTakeFirst();
        tag = { name: record.tag, previousDigest: previous?.digest };
        await trx
          .insertInto('tags')
          .values({ repository_id: repositoryId, name: record.tag, manifest_id: manifest.id, updated_at: now })
          .onConflict((conflict) =>
            conflict.columns(['repository_id', 'name']).doUpdateSet({ manifest_id: manifest.id, updated_at: now }),
          )
          .execute();
      }
      await this.notify(trx, {
        type: 'manifest.stored',
        repository: record.repository,
        digest: record.digest,
        mediaType: record.mediaType,
        artifactType: record.artifactType,
        size: record.payload.length,
        subjectDigest: record.subjectDigest,
        blobDigests,
        childDigests,
        childrenMayBeMissing: record.childrenMayBeMissing,
        newInRepository: Number(stored.numInsertedOrUpdatedRows ?? 0n) > 0,
        tag,
      });
    });
  }

  async findManifestByDigest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const row = await this.manifestQuery(repository)
      .select(manifestColumns)
      .where('manifests.digest', '=', digest)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async findManifestByTag(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    const row = await this.taggedManifestQuery(repository, tag).select(manifestColumns).executeTakeFirst();
    return row && toRecord(row);
  }

  async loadManifestByDigest(repository: string, digest: string): Promise<ManifestWithPayload | undefined> {
    const row = await this.manifestQuery(repository)
      .select([...manifestColumns, 'manifests.payload'])
      .where('manifests.digest', '=', digest)
      .executeTakeFirst();
    return row && { ...toRecord(row), payload: Buffer.from(row.payload) };
  }

  async loadManifestByTag(repository: string, tag: string): Promise<ManifestWithPayload | undefined> {
    const row = await this.taggedManifestQuery(repository, tag)
      .select([...manifestColumns, 'manifests.payload'])
      .executeTakeFirst();
    return row && { ...toRecord(row), payload: Buffer.from(row.payload) };
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    return this.writeTransaction(async (trx) => {
      const row = await trx
        .selectFrom('tags')
        .innerJoin('repositories', 'repositories.id', 'tags.repository_id')
        .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
        .select(['tags.repository_id', 'manifests.digest'])
        .where('repositories.name', '=', repository)
        .where('tags.name', '=', tag)
        .executeTakeFirst();
      if (row === undefined) return false;
      const result = await trx
        .deleteFrom('tags')
        .where('name', '=', tag)
        .where('repository_id', '=', row.repository_id)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      await this.notify(trx, { type: 'tag.deleted', repository, tag, digest: row.digest });
      return true;
    });
  }

  /** Deletes the manifest and, through the foreign keys, its tags and references. */
  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    return this.writeTransaction(async (trx) => {
      const manifest = await trx
        .selectFrom('manifests')
        .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
        .select([
          'manifests.id',
          'manifests.digest',
          'manifests.media_type',
          'manifests.size',
          'manifests.subject_digest',
        ])
        .where('repositories.name', '=', repository)
        .where('manifests.digest', '=', digest)
        .executeTakeFirst();
      return manifest !== undefined && (await this.removeManifest(trx, repository, manifest));
    });
  }

  /**
   * Deletes the repository in one transaction: each manifest as deleteManifest would (listeners see
   * a `manifest.deleted` for each, so an immutable tag refuses the whole deletion), then its blob
   * links and the repository itself, announced as `repository.deleted`. Undefined when it does not
   * exist.
   */
  async deleteRepository(repository: string): Promise<DeletedRepository | undefined> {
    return this.writeTransaction(async (trx) => {
      const row = await trx.selectFrom('repositories').select('id').where('name', '=', repository).executeTakeFirst();
      if (row === undefined) return undefined;
      const manifests = await trx
        .selectFrom('manifests')
        .select(['id', 'digest', 'media_type', 'size', 'subject_digest'])
        .where('repository_id', '=', row.id)
        .orderBy('id')
        .execute();
      const links = await trx
        .selectFrom('repository_blobs')
        .select('digest')
        .where('repository_id', '=', row.id)
        .execute();
      for (const manifest of manifests) await this.removeManifest(trx, repository, manifest);
      await trx.deleteFrom('repository_blobs').where('repository_id', '=', row.id).execute();
      await trx.deleteFrom('repositories').where('id', '=', row.id).execute();
      const deleted: DeletedRepository = {
        manifestDigests: manifests.map((manifest) => manifest.digest),
        blobDigests: links.map((link) => link.digest),
      };
      await this.notify(trx, { type: 'repository.deleted', repository, ...deleted });
      return deleted;
    });
  }

  async listTags(repository: string, page: Page): Promise<string[] | undefined> {
    const repositoryRow = await this.db
      .selectFrom('repositories')
      .select('id')
      .where('name', '=', repository)
      .executeTakeFirst();
    if (!repositoryRow) return undefined;
    let query = this.db
      .selectFrom('tags')
      .select('name')
      .where('repository_id', '=', repositoryRow.id)
      .orderBy('name')
      .limit(page.limit);
    if (page.after !== undefined) query = query.where('name', '>', page.after);
    return (await query.execute()).map((row) => row.name);
  }

  /** Repositories that hold at least one manifest: a repository with only blobs is not an image yet. */
  async listRepositories(page: Page): Promise<string[]> {
    let query = this.db
      .selectFrom('repositories')
      .select('name')
      .where((eb) =>
        eb.exists(eb.selectFrom('manifests').select('id').whereRef('manifests.repository_id', '=', 'repositories.id')),
      )
      .orderBy('name')
      .limit(page.limit);
    if (page.after !== undefined) query = query.where('name', '>', page.after);
    return (await query.execute()).map((row) => row.name);
  }

  async listReferrers(
    repository: string,
    subject: string,
    artifactType: string | undefined,
    page: Page,
  ): Promise<ManifestRecord[]> {
    let query = this.manifestQuery(repository)
      .select(manifestColumns)
      .where('manifests.subject_digest', '=', subject)
      .orderBy('manifests.digest')
      .limit(page.limit);
    if (artifactType !== undefined) query = query.where('manifests.artifact_type', '=', artifactType);
    if (page.after !== undefined) query = query.where('manifests.digest', '>', page.after);
    return (await query.execute()).map(toRecord);
  }

  async createUpload(id: string, repository: string): Promise<void> {
    await this.db.insertInto('uploads').values({ id, repository, started_at: Date.now() }).execute();
  }

  async findUpload(id: string): Promise<{ repository: string; startedAt: number } | undefined> {
    const row = await this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { repository: row.repository, startedAt: Number(row.started_at) };
  }

  async deleteUpload(id: string): Promise<void> {
    await this.db.deleteFrom('uploads').where('id', '=', id).execute();
  }

  async listUploadsStartedBefore(time: number): Promise<string[]> {
    const rows = await this.db.selectFrom('uploads').select('id').where('started_at', '<', time).execute();
    return rows.map((row) => row.id);
  }

  /**
   * A write of another layer (garbage collection, repository deletion) in one transaction, whose
   * changes `report` tells the listeners about as the store's own writes do. Retried from the start
   * like them, so `work` must read what it relies on inside `trx`.
   */
  async writeWithChanges<T>(
    work: (trx: Transaction<Database>, report: (change: MetadataChange) => Promise<void>) => Promise<T>,
  ): Promise<T> {
    return this.writeTransaction((trx) => work(trx, (change) => this.notify(trx, change)));
  }

  /** Deletes one manifest row (its tags and references follow by foreign key) and announces it. */
  private async removeManifest(
    trx: Transaction<Database>,
    repository: string,
    manifest: Pick<ManifestRow, 'id' | 'digest' | 'media_type' | 'size' | 'subject_digest'>,
  ): Promise<boolean> {
    const [tags, blobs, children] = await Promise.all([
      trx.selectFrom('tags').select('name').where('manifest_id', '=', manifest.id).execute(),
      trx.selectFrom('manifest_blobs').select('digest').where('manifest_id', '=', manifest.id).execute(),
      trx.selectFrom('manifest_references').select('child_digest').where('parent_id', '=', manifest.id).execute(),
    ]);
    const result = await trx.deleteFrom('manifests').where('id', '=', manifest.id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) return false;
    await this.notify(trx, {
      type: 'manifest.deleted',
      repository,
      digest: manifest.digest,
      mediaType: manifest.media_type,
      size: Number(manifest.size),
      subjectDigest: manifest.subject_digest ?? undefined,
      tags: tags.map((row) => row.name),
      blobDigests: blobs.map((row) => row.digest),
      childDigests: children.map((row) => row.child_digest),
    });
    return true;
  }

  /** Tells every listener about `change`, inside `trx`; a listener's error aborts the write. */
  protected async notify(trx: Transaction<Database>, change: MetadataChange): Promise<void> {
    for (const listener of this.listeners) await listener(trx, change);
  }

  /**
   * Runs a write transaction, again from the start when a concurrent writer got in the way: on
   * PostgreSQL (READ COMMITTED) a row this transaction found can be deleted before it links to it,
   * which the foreign keys report. The retry sees the committed state and either succeeds or fails
   * with the registry error that state calls for.
   *
   * On SQLite the transaction takes the write lock before anything else: one that read first and
   * then wrote would fail at once ("database is locked") when another process (`wharf gc`, a
   * second instance) held the lock at that moment, whereas a first write waits its turn.
   */
  protected async writeTransaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const postgres = isPostgres<Database>(this.db);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          if (!postgres) await sql`update repositories set id = id where 0 = 1`.execute(trx);
          return work(trx);
        });
      } catch (error) {
        if (!isWriteConflict(error)) throw error;
        if (attempt === writeAttempts) {
          throw new RegistryError('TOOMANYREQUESTS', 'concurrent changes to the same data kept conflicting; retry', {
            headers: { 'Retry-After': '1' },
          });
        }
        await sleep(Math.random() * 20 * attempt);
      }
    }
  }

  private manifestQuery(repository: string) {
    return this.db
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .where('repositories.name', '=', repository);
  }

  private taggedManifestQuery(repository: string, tag: string) {
    return this.db
      .selectFrom('tags')
      .innerJoin('repositories', 'repositories.id', 'tags.repository_id')
      .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .where('repositories.name', '=', repository)
      .where('tags.name', '=', tag);
  }
}

const writeAttempts = 5;

/** A row the transaction relied on was removed by a concurrent writer. */
class WriteConflict extends Error {}

/**
 * Conflicts that a fresh attempt resolves: foreign key violations, serialization failures, deadlocks,
 * and on SQLite a transaction that read before another process (`wharf gc`) committed a write.
 */
function isWriteConflict(error: unknown): boolean {
  if (error instanceof WriteConflict) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === '23503' ||
    code === '40001' ||
    code === '40P01' ||
    code === 'SQLITE_CONSTRAINT_FOREIGNKEY' ||
    code === 'SQLITE_BUSY_SNAPSHOT'
  );
}

async function ensureRepository(trx: Executor, name: string): Promise<number> {
  await trx
    .insertInto('repositories')
    .values({ name, created_at: Date.now() })
    .onConflict((conflict) => conflict.column('name').doNothing())
    .execute();
  const row = await trx.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
  if (row === undefined) throw new WriteConflict();
  return row.id;
}

/** Links the blob to the repository; true when the link is new. */
async function linkBlob(trx: Executor, repositoryId: number, digest: string): Promise<boolean> {
  const result = await trx
    .insertInto('repository_blobs')
    .values({ repository_id: repositoryId, digest, created_at: Date.now() })
    .onConflict((conflict) => conflict.columns(['repository_id', 'digest']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
}

async function assertPresent(
  trx: Executor,
  repositoryId: number,
  digests: string[],
  kind: 'blob' | 'manifest',
): Promise<void> {
  const wanted = [...new Set(digests)];
  if (wanted.length === 0) return;
  const found =
    kind === 'blob'
      ? await trx
          .selectFrom('repository_blobs')
          .select('digest')
          .where('repository_id', '=', repositoryId)
          .where('digest', 'in', wanted)
          .execute()
      : await trx
          .selectFrom('manifests')
          .select('digest')
          .where('repository_id', '=', repositoryId)
          .where('digest', 'in', wanted)
          .execute();
  const present = new Set(found.map((row) => row.digest));
  const missing = wanted.filter((digest) => !present.has(digest));
  if (missing.length > 0) {
    throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references unknown ${kind} ${missing[0]}`, {
      detail: { [kind === 'blob' ? 'blobs' : 'manifests']: missing },
    });
  }
}

function toRecord(
  row: Pick<ManifestRow, 'digest' | 'media_type' | 'artifact_type' | 'size' | 'subject_digest' | 'annotations'>,
): ManifestRecord {
  return {
    digest: row.digest,
    mediaType: row.media_type,
    artifactType: row.artifact_type,
    size: Number(row.size),
    subjectDigest: row.subject_digest,
    annotations: row.annotations,
  };
}
