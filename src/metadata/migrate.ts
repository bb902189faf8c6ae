import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import * as initial from './migrations/001-initial.ts';
import * as identities from './migrations/002-identities.ts';
import * as projects from './migrations/003-projects.ts';
import * as oidc from './migrations/004-oidc.ts';

/** Migrations are compiled in, not read from a folder, so they travel with the code. */
const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-identities': identities,
  '003-projects': projects,
  '004-oidc': oidc,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest<T>(db: Kysely<T>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw new Error(`database migration failed: ${(error as Error).message ?? String(error)}`);
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
