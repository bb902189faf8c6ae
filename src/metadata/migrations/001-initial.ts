import { type Kysely, sql } from 'kysely';
import { columnTypes } from './column-types.ts';

// Kysely migrations see an untyped database: the schema is what they create.
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  await db.schema
    .createTable('repositories')
    .$call(types.addId)
    .addColumn('name', types.text, (column) => column.notNull().unique())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('blobs')
    .addColumn('digest', types.text, (column) => column.primaryKey())
    .addColumn('size', 'bigint', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('repository_blobs')
    .addColumn('repository_id', 'integer', (column) =>
      column.notNull().references('repositories.id').onDelete('cascade'),
    )
    .addColumn('digest', types.text, (column) => column.notNull().references('blobs.digest'))
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
    .execute();
  await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();

  await db.schema
    .createTable('manifests')
    .$call(types.addId)
    .addColumn('repository_id', 'integer', (column) =>
      column.notNull().references('repositories.id').onDelete('cascade'),
    )
    .addColumn('digest', types.text, (column) => column.notNull())
    .addColumn('media_type', types.text, (column) => column.notNull())
    .addColumn('artifact_type', types.text)
    .addColumn('size', 'bigint', (column) => column.notNull())
    .addColumn('payload', types.bytes, (column) => column.notNull())
    .addColumn('subject_digest', types.text)
    .addColumn('annotations', types.text)
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addUniqueConstraint('manifests_repository_digest', ['repository_id', 'digest'])
    .execute();
  await db.schema
    .createIndex('manifests_subject')
    .on('manifests')
    .columns(['repository_id', 'subject_digest'])
    .where(sql.ref('subject_digest'), 'is not', null)
    .execute();

  await db.schema
    .createTable('manifest_blobs')
    .addColumn('manifest_id', 'integer', (column) => column.notNull().references('manifests.id').onDelete('cascade'))
    .addColumn('digest', types.text, (column) => column.notNull().references('blobs.digest'))
    .addPrimaryKeyConstraint('manifest_blobs_pk', ['manifest_id', 'digest'])
    .execute();
  await db.schema.createIndex('manifest_blobs_digest').on('manifest_blobs').column('digest').execute();

  await db.schema
    .createTable('manifest_references')
    .addColumn('parent_id', 'integer', (column) => column.notNull().references('manifests.id').onDelete('cascade'))
    .addColumn('child_digest', types.text, (column) => column.notNull())
    .addPrimaryKeyConstraint('manifest_references_pk', ['parent_id', 'child_digest'])
    .execute();

  await db.schema
    .createTable('tags')
    .addColumn('repository_id', 'integer', (column) =>
      column.notNull().references('repositories.id').onDelete('cascade'),
    )
    .addColumn('name', types.text, (column) => column.notNull())
    .addColumn('manifest_id', 'integer', (column) => column.notNull().references('manifests.id').onDelete('cascade'))
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
    .execute();
  await db.schema.createIndex('tags_manifest').on('tags').column('manifest_id').execute();

  await db.schema
    .createTable('uploads')
    .addColumn('id', types.text, (column) => column.primaryKey())
    .addColumn('repository', types.text, (column) => column.notNull())
    .addColumn('started_at', 'bigint', (column) => column.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'uploads',
    'tags',
    'manifest_references',
    'manifest_blobs',
    'manifests',
    'repository_blobs',
    'blobs',
    'repositories',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
