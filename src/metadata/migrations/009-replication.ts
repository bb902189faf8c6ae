import type { Kysely } from 'kysely';
import { columnTypes } from './column-types.ts';

/**
 * Replication: remote registry endpoints, policies, their executions with one task per artifact,
 * and the queue of pushes and deletes waiting for event-based policies. Flags are 0/1 integers and
 * timestamps epoch milliseconds, as in the other tables.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  await db.schema
    .createTable('replication_registries')
    .$call(types.addId)
    .addColumn('name', types.text, (column) => column.notNull().unique())
    .addColumn('url', types.text, (column) => column.notNull())
    .addColumn('description', types.text, (column) => column.notNull().defaultTo(''))
    .addColumn('credential_type', types.text, (column) => column.notNull())
    .addColumn('access_key', types.text)
    // Encrypted with a key derived from http.secret; never returned by the API.
    .addColumn('access_secret', types.text)
    .addColumn('ca_certificate', types.text)
    .addColumn('insecure', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('replication_policies')
    .$call(types.addId)
    .addColumn('name', types.text, (column) => column.notNull().unique())
    .addColumn('description', types.text, (column) => column.notNull().defaultTo(''))
    .addColumn('enabled', 'integer', (column) => column.notNull().defaultTo(1))
    .addColumn('src_registry_id', 'integer', (column) => column.references('replication_registries.id'))
    .addColumn('dest_registry_id', 'integer', (column) => column.references('replication_registries.id'))
    .addColumn('filters', types.text, (column) => column.notNull())
    .addColumn('dest_namespace', types.text)
    .addColumn('dest_namespace_replace_count', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('trigger_type', types.text, (column) => column.notNull())
    .addColumn('cron', types.text)
    .addColumn('override', 'integer', (column) => column.notNull().defaultTo(1))
    .addColumn('deletion', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('concurrency', 'integer', (column) => column.notNull())
    .addColumn('speed', 'bigint', (column) => column.notNull().defaultTo(0))
    .addColumn('created_by', types.text)
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('replication_executions')
    .$call(types.addId)
    .addColumn('policy_id', 'integer', (column) =>
      column.notNull().references('replication_policies.id').onDelete('cascade'),
    )
    .addColumn('status', types.text, (column) => column.notNull())
    .addColumn('trigger', types.text, (column) => column.notNull())
    // A scheduled execution names its fire time here: instances firing together insert it once.
    .addColumn('trigger_key', types.text)
    .addColumn('status_text', types.text, (column) => column.notNull().defaultTo(''))
    .addColumn('stop_requested', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('instance', types.text)
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('ended_at', 'bigint')
    .addColumn('heartbeat_at', 'bigint')
    .addUniqueConstraint('replication_executions_trigger_key', ['policy_id', 'trigger_key'])
    .execute();
  await db.schema
    .createIndex('replication_executions_policy')
    .on('replication_executions')
    .columns(['policy_id', 'id'])
    .execute();
  await db.schema.createIndex('replication_executions_status').on('replication_executions').column('status').execute();

  await db.schema
    .createTable('replication_tasks')
    .$call(types.addId)
    .addColumn('execution_id', 'integer', (column) =>
      column.notNull().references('replication_executions.id').onDelete('cascade'),
    )
    .addColumn('operation', types.text, (column) => column.notNull())
    .addColumn('src_resource', types.text, (column) => column.notNull())
    .addColumn('dst_resource', types.text, (column) => column.notNull())
    .addColumn('digest', types.text)
    .addColumn('status', types.text, (column) => column.notNull())
    .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('bytes', 'bigint', (column) => column.notNull().defaultTo(0))
    .addColumn('error', types.text)
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('ended_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('replication_tasks_execution')
    .on('replication_tasks')
    .columns(['execution_id', 'status'])
    .execute();

  await db.schema
    .createTable('replication_triggers')
    .$call(types.addId)
    .addColumn('policy_id', 'integer', (column) =>
      column.notNull().references('replication_policies.id').onDelete('cascade'),
    )
    .addColumn('operation', types.text, (column) => column.notNull())
    .addColumn('repository', types.text, (column) => column.notNull())
    .addColumn('reference', types.text, (column) => column.notNull())
    .addColumn('digest', types.text)
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('replication_triggers').execute();
  await db.schema.dropTable('replication_tasks').execute();
  await db.schema.dropTable('replication_executions').execute();
  await db.schema.dropTable('replication_policies').execute();
  await db.schema.dropTable('replication_registries').execute();
}
