import type { Kysely } from 'kysely';
import { columnTypes } from './column-types.ts';

/**
 * Lifecycle policies: storage usage per project (and for the registry) kept exact inside the write
 * transactions, an artifact-count quota beside the byte quota projects already had, tag
 * immutability rules, retention policies with a record of every run, and when each manifest was
 * last pulled.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  await db.schema.alterTable('manifests').addColumn('pulled_at', 'bigint').execute();
  await db.schema.alterTable('projects').addColumn('quota_artifacts', 'bigint').execute();

  // `registry` or `project:<name>`: by name, since a repository names its project without a key.
  await db.schema
    .createTable('storage_usage')
    .addColumn('scope', types.text, (column) => column.primaryKey())
    .addColumn('bytes', 'bigint', (column) => column.notNull())
    .addColumn('artifacts', 'bigint', (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .execute();

  await db.schema
    .createTable('immutability_rules')
    .$call(types.addId)
    .addColumn('project_id', 'integer', (column) => column.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('repository_pattern', types.text, (column) => column.notNull())
    .addColumn('repository_decoration', types.text, (column) => column.notNull())
    .addColumn('tag_pattern', types.text, (column) => column.notNull())
    .addColumn('tag_decoration', types.text, (column) => column.notNull())
    .addColumn('disabled', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('created_by', types.text)
    .execute();
  await db.schema.createIndex('immutability_rules_project').on('immutability_rules').column('project_id').execute();

  await db.schema
    .createTable('retention_policies')
    .addColumn('project_id', 'integer', (column) => column.primaryKey().references('projects.id').onDelete('cascade'))
    .addColumn('rules', types.text, (column) => column.notNull())
    .addColumn('schedule', types.text)
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_by', types.text)
    .execute();

  await db.schema
    .createTable('retention_runs')
    .$call(types.addId)
    .addColumn('project_id', 'integer', (column) => column.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('trigger', types.text, (column) => column.notNull())
    .addColumn('dry_run', 'integer', (column) => column.notNull())
    .addColumn('status', types.text, (column) => column.notNull())
    .addColumn('triggered_by', types.text)
    // The schedule's fire time: unique per project, so one instance of many claims it.
    .addColumn('scheduled_for', 'bigint')
    .addColumn('started_at', 'bigint', (column) => column.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('total', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('retained', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('deleted', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('failed', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('bytes_freed', 'bigint', (column) => column.notNull().defaultTo(0))
    .addColumn('error', types.text)
    .addUniqueConstraint('retention_runs_schedule', ['project_id', 'scheduled_for'])
    .execute();

  await db.schema
    .createTable('retention_run_artifacts')
    .addColumn('run_id', 'integer', (column) => column.notNull().references('retention_runs.id').onDelete('cascade'))
    .addColumn('repository', types.text, (column) => column.notNull())
    .addColumn('digest', types.text, (column) => column.notNull())
    .addColumn('tags', types.text, (column) => column.notNull())
    .addColumn('size', 'bigint', (column) => column.notNull())
    .addColumn('outcome', types.text, (column) => column.notNull())
    .addColumn('error', types.text)
    .addPrimaryKeyConstraint('retention_run_artifacts_pk', ['run_id', 'repository', 'digest'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'retention_run_artifacts',
    'retention_runs',
    'retention_policies',
    'immutability_rules',
    'storage_usage',
  ]) {
    await db.schema.dropTable(table).execute();
  }
  await db.schema.alterTable('projects').dropColumn('quota_artifacts').execute();
  await db.schema.alterTable('manifests').dropColumn('pulled_at').execute();
}
