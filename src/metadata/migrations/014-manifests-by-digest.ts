import type { Kysely } from 'kysely';

/**
 * Manifests looked up by digest alone, whatever the repository: whether a scan report still
 * describes a stored manifest is asked for every report listed and pruned.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('manifests_digest').on('manifests').column('digest').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('manifests_digest').execute();
}
