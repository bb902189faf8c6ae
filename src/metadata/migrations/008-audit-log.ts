import type { Kysely } from 'kysely';
import { columnTypes, isPostgres } from './column-types.ts';

/**
 * The audit log: one row per audited action (a push, a pull, a delete, a login, a change through
 * the management API). Rows are only ever inserted and, past the retention, deleted oldest first;
 * the indexes serve the API's filters, each ordered by time.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  // Pulls are recorded too, so the id may pass 2^31 over the years: 64-bit on both databases.
  const id = isPostgres(db)
    ? db.schema.createTable('audit_logs').addColumn('id', 'bigserial', (column) => column.primaryKey())
    : db.schema.createTable('audit_logs').addColumn('id', 'integer', (column) => column.primaryKey().autoIncrement());
  await id
    .addColumn('occurred_at', 'bigint', (column) => column.notNull())
    .addColumn('actor_name', types.text, (column) => column.notNull())
    .addColumn('actor_kind', types.text, (column) => column.notNull())
    .addColumn('source_address', types.text)
    .addColumn('user_agent', types.text)
    .addColumn('request_id', types.text)
    .addColumn('action', types.text, (column) => column.notNull())
    .addColumn('resource_type', types.text, (column) => column.notNull())
    .addColumn('resource', types.text, (column) => column.notNull())
    .addColumn('project', types.text)
    .addColumn('repository', types.text)
    .addColumn('outcome', types.text, (column) => column.notNull())
    .addColumn('status', 'integer')
    .addColumn('method', types.text)
    .addColumn('route', types.text)
    .addColumn('detail', types.text)
    .execute();
  await db.schema.createIndex('audit_logs_time').on('audit_logs').columns(['occurred_at']).execute();
  await db.schema.createIndex('audit_logs_actor').on('audit_logs').columns(['actor_name', 'occurred_at']).execute();
  await db.schema.createIndex('audit_logs_project').on('audit_logs').columns(['project', 'occurred_at']).execute();
  await db.schema.createIndex('audit_logs_action').on('audit_logs').columns(['action', 'occurred_at']).execute();
  // Also serves "everything of a repository": `team/app:*` and `team/app@*` are ranges of it.
  await db.schema.createIndex('audit_logs_resource').on('audit_logs').columns(['resource', 'occurred_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_logs').execute();
}
