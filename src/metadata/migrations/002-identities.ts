import type { Kysely } from 'kysely';
import { columnTypes } from './column-types.ts';

/**
 * Local users and robot accounts. Flags are integers (0/1) so the same statements bind on SQLite
 * and PostgreSQL; timestamps are epoch milliseconds.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  await db.schema
    .createTable('users')
    .$call(types.addId)
    .addColumn('username', types.text, (column) => column.notNull().unique())
    // Null for users who sign in elsewhere (OIDC) and only exist here for their CLI secret.
    .addColumn('password_hash', types.text)
    .addColumn('email', types.text)
    .addColumn('admin', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('disabled', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('source', types.text, (column) => column.notNull().defaultTo('local'))
    .addColumn('cli_secret_hash', types.text)
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addColumn('password_changed_at', 'bigint')
    .execute();

  await db.schema
    .createTable('robots')
    .$call(types.addId)
    .addColumn('name', types.text, (column) => column.notNull().unique())
    .addColumn('project', types.text)
    .addColumn('description', types.text, (column) => column.notNull().defaultTo(''))
    .addColumn('secret_hash', types.text, (column) => column.notNull())
    .addColumn('permissions', types.text, (column) => column.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('disabled', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('created_by', types.text, (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('robots_project').on('robots').column('project').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('robots').execute();
  await db.schema.dropTable('users').execute();
}
