import type { Kysely } from 'kysely';
import { columnTypes } from './column-types.ts';

/**
 * Pull-through caches: a project may cache an upstream registry (its settings, one row per proxy
 * project, going with the project), and each cached tag remembers when the upstream last confirmed
 * it, so that it is asked again only after the cache's TTL.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  await db.schema
    .createTable('proxy_projects')
    .addColumn('project_id', 'integer', (column) => column.primaryKey().references('projects.id').onDelete('cascade'))
    .addColumn('url', types.text, (column) => column.notNull())
    .addColumn('username', types.text)
    // Encrypted with a key derived from http.secret; never returned by the API.
    .addColumn('password', types.text)
    .addColumn('ca_certificate', types.text)
    .addColumn('insecure', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('tag_ttl_ms', 'bigint', (column) => column.notNull())
    .addColumn('remote_namespace', types.text)
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_by', types.text)
    .execute();

  await db.schema
    .createTable('proxy_tag_checks')
    .addColumn('repository', types.text, (column) => column.notNull())
    .addColumn('tag', types.text, (column) => column.notNull())
    .addColumn('digest', types.text, (column) => column.notNull())
    .addColumn('checked_at', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('proxy_tag_checks_pk', ['repository', 'tag'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('proxy_tag_checks').execute();
  await db.schema.dropTable('proxy_projects').execute();
}
