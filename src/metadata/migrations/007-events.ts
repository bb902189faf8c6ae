import type { Kysely } from 'kysely';
import { columnTypes, isPostgres } from './column-types.ts';

/**
 * The event outbox: events written in the transaction of the change they describe, one delivery
 * row per subscriber that wants each (a configured notification endpoint or a project's webhook
 * policy), and the webhook policies themselves. src/events/ describes the columns.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  await db.schema
    .createTable('webhook_policies')
    .$call(types.addId)
    .addColumn('project_id', 'integer', (column) => column.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('name', types.text, (column) => column.notNull())
    .addColumn('description', types.text, (column) => column.notNull().defaultTo(''))
    .addColumn('url', types.text, (column) => column.notNull())
    .addColumn('format', types.text, (column) => column.notNull())
    .addColumn('event_types', types.text, (column) => column.notNull())
    .addColumn('auth_header', types.text)
    .addColumn('secret', types.text)
    .addColumn('skip_cert_verify', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('enabled', 'integer', (column) => column.notNull().defaultTo(1))
    .addColumn('created_by', types.text)
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addUniqueConstraint('webhook_policies_project_name', ['project_id', 'name'])
    .execute();

  await db.schema
    .createTable('event_outbox')
    .addColumn('id', types.text, (column) => column.primaryKey())
    .addColumn('action', types.text, (column) => column.notNull())
    .addColumn('project', types.text)
    .addColumn('occurred_at', 'bigint', (column) => column.notNull())
    .addColumn('payload', types.text, (column) => column.notNull())
    .execute();
  await db.schema.createIndex('event_outbox_time').on('event_outbox').columns(['occurred_at']).execute();

  // Pull events are delivered too, so the id may pass 2^31 over the years: 64-bit on both databases.
  const deliveries = isPostgres(db)
    ? db.schema.createTable('event_deliveries').addColumn('id', 'bigserial', (column) => column.primaryKey())
    : db.schema
        .createTable('event_deliveries')
        .addColumn('id', 'integer', (column) => column.primaryKey().autoIncrement());
  await deliveries
    .addColumn('event_id', types.text, (column) => column.notNull().references('event_outbox.id').onDelete('cascade'))
    .addColumn('subscriber', types.text, (column) => column.notNull())
    .addColumn('webhook_id', 'integer', (column) => column.references('webhook_policies.id').onDelete('cascade'))
    .addColumn('state', types.text, (column) => column.notNull())
    .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (column) => column.notNull())
    .addColumn('lease_owner', types.text)
    .addColumn('lease_until', 'bigint', (column) => column.notNull().defaultTo(0))
    .addColumn('last_status', 'integer')
    .addColumn('last_error', types.text)
    .addColumn('last_latency_ms', 'integer')
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addColumn('delivered_at', 'bigint')
    .execute();
  // Workers claim due pending deliveries in time order; the API lists a subscriber's newest first.
  await db.schema
    .createIndex('event_deliveries_due')
    .on('event_deliveries')
    .columns(['state', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('event_deliveries_subscriber')
    .on('event_deliveries')
    .columns(['subscriber', 'id'])
    .execute();
  await db.schema.createIndex('event_deliveries_event').on('event_deliveries').columns(['event_id']).execute();
  await db.schema.createIndex('event_deliveries_webhook').on('event_deliveries').columns(['webhook_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('event_deliveries').execute();
  await db.schema.dropTable('event_outbox').execute();
  await db.schema.dropTable('webhook_policies').execute();
}
