import type { Kysely } from 'kysely';
import { columnTypes } from './column-types.ts';

/**
 * Per-project signature policies: whether pulls require signatures, in which mode, which formats
 * count, and the public keys and certificates trusted in verified mode (JSON lists of PEMs).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  await db.schema
    .createTable('signature_policies')
    .addColumn('project_id', 'integer', (column) => column.primaryKey().references('projects.id').onDelete('cascade'))
    .addColumn('require_signatures', 'integer', (column) => column.notNull())
    .addColumn('mode', types.text, (column) => column.notNull())
    .addColumn('formats', types.text, (column) => column.notNull())
    .addColumn('trusted_keys', types.text, (column) => column.notNull())
    .addColumn('trusted_certificates', types.text, (column) => column.notNull())
    .addColumn('updated_at', 'bigint', (column) => column.notNull())
    .addColumn('updated_by', types.text)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('signature_policies').execute();
}
