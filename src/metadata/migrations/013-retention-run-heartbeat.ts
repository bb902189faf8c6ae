import type { Kysely } from 'kysely';

/**
 * Retention runs renew a heartbeat while they last, so a run whose process died can be told from
 * one still under way and marked failed. Runs recorded before have none; their start time stands in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('retention_runs').addColumn('heartbeat_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('retention_runs').dropColumn('heartbeat_at').execute();
}
