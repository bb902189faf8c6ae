import SQLite from 'better-sqlite3';
import type { DatabaseConfig } from '../config/config.ts';
import { copyDatabase } from '../metadata/copy-database.ts';
import { databaseDialect } from '../metadata/open-database.ts';
import { connectPostgres } from '../metadata/open-postgres.ts';
import { connectSqlite } from '../metadata/open-sqlite.ts';

/**
 * Writes a consistent snapshot of the live metadata database into a new SQLite file at `file`,
 * while the registry keeps serving:
 *
 * - SQLite: `VACUUM INTO` from a read-only connection runs inside one read transaction, so the
 *   file is the database as of one commit (WAL readers never block the server's writer), and it
 *   comes out compact.
 * - PostgreSQL: the rows are copied by the same code as `wharf db copy`, inside one REPEATABLE READ,
 *   READ ONLY transaction, so every table is read from the same snapshot of the database. The backup
 *   is then a SQLite file either way, and a restore into any database goes through the same copy.
 */
export async function snapshotMetadata(config: DatabaseConfig, file: string): Promise<'sqlite' | 'postgres'> {
  if (databaseDialect(config) === 'sqlite') {
    const database = new SQLite(config.path, { readonly: true, fileMustExist: true });
    try {
      database.pragma('busy_timeout = 5000');
      database.prepare('VACUUM INTO ?').run(file);
    } finally {
      database.close();
    }
    return 'sqlite';
  }
  const source = connectPostgres({ ...config, pool: { ...config.pool, max: 1 } });
  const target = await connectSqlite(file);
  try {
    await source
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute((trx) => copyDatabase(trx, target));
  } finally {
    await source.destroy();
    await target.destroy();
  }
  return 'postgres';
}
