import { type Kysely, sql } from 'kysely';
import { columnTypes } from './column-types.ts';

/**
 * Online garbage collection (docs/garbage-collection.md): review queues that the writes which can
 * orphan something fill in their own transactions, and the mark that a blob is being deleted.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  // Set while the collector deletes the blob's bytes: writes that would reference the blob refuse
  // it from then on, so no acknowledged push can come to depend on bytes about to disappear.
  await db.schema.alterTable('blobs').addColumn('deleting_since', 'bigint').execute();
  await db.schema
    .createIndex('blobs_deleting')
    .on('blobs')
    .column('deleting_since')
    .where(sql.ref('deleting_since'), 'is not', null)
    .execute();

  // One row per blob however many events queued it: an upsert keeps the latest review time.
  await db.schema
    .createTable('gc_blob_reviews')
    .addColumn('digest', types.text, (column) => column.primaryKey())
    .addColumn('review_after', 'bigint', (column) => column.notNull())
    .addColumn('event', types.text, (column) => column.notNull())
    .addColumn('queued_at', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('gc_blob_reviews_due').on('gc_blob_reviews').column('review_after').execute();

  // A review goes with its manifest: deleting the manifest answers it.
  await db.schema
    .createTable('gc_manifest_reviews')
    .addColumn('manifest_id', 'integer', (column) => column.primaryKey().references('manifests.id').onDelete('cascade'))
    .addColumn('review_after', 'bigint', (column) => column.notNull())
    .addColumn('event', types.text, (column) => column.notNull())
    .addColumn('queued_at', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('gc_manifest_reviews_due').on('gc_manifest_reviews').column('review_after').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('gc_manifest_reviews').execute();
  await db.schema.dropTable('gc_blob_reviews').execute();
  await db.schema.dropIndex('blobs_deleting').execute();
  await db.schema.alterTable('blobs').dropColumn('deleting_since').execute();
}
