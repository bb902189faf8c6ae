import type { Kysely } from 'kysely';
import { columnTypes } from './column-types.ts';

// Kysely migrations see an untyped database: the schema is what they create.
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  await db.schema
    .createTable('projects')
    .$call(types.addId)
    .addColumn('name', types.text, (column) => column.notNull().unique())
    // 0/1 rather than a boolean column: better-sqlite3 cannot bind booleans, and an integer reads the
    // same on both dialects.
    .addColumn('public', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('created_by', types.text)
    .addColumn('quota_bytes', 'bigint')
    .execute();

  await db.schema
    .createTable('project_members')
    .$call(types.addId)
    .addColumn('project_id', 'integer', (column) => column.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('member_kind', types.text, (column) => column.notNull())
    .addColumn('member_name', types.text, (column) => column.notNull())
    .addColumn('role', types.text, (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addUniqueConstraint('project_members_identity', ['project_id', 'member_kind', 'member_name'])
    .execute();
  // Authorization looks members up by who they are, across projects (the caller's projects).
  await db.schema
    .createIndex('project_members_member')
    .on('project_members')
    .columns(['member_kind', 'member_name'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('project_members').execute();
  await db.schema.dropTable('projects').execute();
}
