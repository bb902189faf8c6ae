import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import * as initial from './migrations/001-initial.ts';
import * as identities from './migrations/002-identities.ts';
import * as projects from './migrations/003-projects.ts';
import * as oidc from './migrations/004-oidc.ts';
import * as gcReviews from './migrations/005-gc-reviews.ts';
import * as lifecyclePolicies from './migrations/006-lifecycle-policies.ts';
import * as events from './migrations/007-events.ts';
import * as auditLog from './migrations/008-audit-log.ts';
import * as replication from './migrations/009-replication.ts';
import * as proxyCache from './migrations/010-proxy-cache.ts';
import * as signaturePolicies from './migrations/011-signature-policies.ts';
import * as vulnerabilityScanning from './migrations/012-vulnerability-scanning.ts';
import * as retentionRunHeartbeat from './migrations/013-retention-run-heartbeat.ts';
import * as manifestsByDigest from './migrations/014-manifests-by-digest.ts';
import { isPostgres } from './migrations/column-types.ts';

/** Migrations are compiled in, not read from a folder, so they travel with the code. */
const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-identities': identities,
  '003-projects': projects,
  '004-oidc': oidc,
  '005-gc-reviews': gcReviews,
  '006-lifecycle-policies': lifecyclePolicies,
  '007-events': events,
  '008-audit-log': auditLog,
  '009-replication': replication,
  '010-proxy-cache': proxyCache,
  '011-signature-policies': signaturePolicies,
  '012-vulnerability-scanning': vulnerabilityScanning,
  '013-retention-run-heartbeat': retentionRunHeartbeat,
  '014-manifests-by-digest': manifestsByDigest,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * The key of the PostgreSQL advisory lock held while migrating (any 64-bit number no other
 * application on the server uses): instances starting together take turns, and the second finds
 * nothing left to do.
 */
const migrationLock = 7_395_113_802_417_011n;

export interface MigrationStatus {
  name: string;
  /** When it was applied; undefined while pending. */
  appliedAt: Date | undefined;
}

/**
 * Applies every pending migration; returns the names of those applied now. With nothing pending
 * nothing is locked, and a database that a newer version migrated further is left as it is.
 */
export async function migrateToLatest<T>(db: Kysely<T>): Promise<string[]> {
  if ((await pendingMigrations(db)).length === 0) return [];
  if (!isPostgres(db)) return applyPending(db);
  // The lock, Kysely's migration tables and the migrations share one connection, so a pool of one
  // connection cannot deadlock against itself.
  return db.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(${sql.lit(migrationLock)})`.execute(connection);
    try {
      return await applyPending(connection);
    } finally {
      await sql`select pg_advisory_unlock(${sql.lit(migrationLock)})`.execute(connection);
    }
  });
}

/** Every migration this version knows, applied or pending, in order. */
export async function migrationStatus<T>(db: Kysely<T>): Promise<MigrationStatus[]> {
  const known = await new Migrator({ db, provider }).getMigrations();
  return known.map((migration) => ({ name: migration.name, appliedAt: migration.executedAt }));
}

export async function pendingMigrations<T>(db: Kysely<T>): Promise<string[]> {
  return (await migrationStatus(db)).filter((migration) => !migration.appliedAt).map((migration) => migration.name);
}

async function applyPending<T>(db: Kysely<T>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw new Error(`database migration failed: ${(error as Error).message ?? String(error)}`);
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
