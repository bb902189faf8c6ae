import type { Kysely } from 'kysely';
import { columnTypes } from './column-types.ts';

/**
 * Users who sign in with OpenID Connect: each is a row of `users` (source `oidc`, its CLI secret's
 * hash in cli_secret_hash) bound here to the identity provider's issuer and subject, with the
 * groups and admin flag of the last sign-in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const types = columnTypes(db);
  await db.schema
    .createTable('oidc_users')
    .addColumn('username', types.text, (column) =>
      column.primaryKey().references('users.username').onDelete('cascade').onUpdate('cascade'),
    )
    .addColumn('issuer', types.text, (column) => column.notNull())
    .addColumn('subject', types.text, (column) => column.notNull())
    .addColumn('groups', types.text, (column) => column.notNull())
    .addColumn('admin', 'integer', (column) => column.notNull())
    .addColumn('secret_expires_at', 'bigint')
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('last_login_at', 'bigint', (column) => column.notNull())
    .addUniqueConstraint('oidc_users_identity', ['issuer', 'subject'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('oidc_users').execute();
}
