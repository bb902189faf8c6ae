import type { Kysely } from 'kysely';
import type { DatabaseConfig } from '../config/config.ts';
import { ConfigError } from '../config/config-error.ts';
import { migrateToLatest, pendingMigrations } from './migrate.ts';
import { connectPostgres, describePostgres, type PostgresOptions } from './open-postgres.ts';
import { connectSqlite } from './open-sqlite.ts';
import type { Database } from './schema.ts';

export type DatabaseDialect = 'sqlite' | 'postgres';

export interface OpenDatabaseOptions extends PostgresOptions {
  /**
   * What to do about pending migrations: `config` follows database.migrate (apply them, or refuse
   * to open); `none` opens the database as it is, for `wharf db`.
   */
  migrations?: 'config' | 'none';
}

/** PostgreSQL when database.url or database.host is set, SQLite otherwise. */
export function databaseDialect(config: DatabaseConfig): DatabaseDialect {
  return config.url !== undefined || config.host !== undefined ? 'postgres' : 'sqlite';
}

/** The database for logs and messages: the SQLite file, or the PostgreSQL URL without its password. */
export function describeDatabase(config: DatabaseConfig): string {
  return databaseDialect(config) === 'postgres' ? describePostgres(config) : `sqlite:${config.path}`;
}

/** Opens the metadata database the config names, migrated as database.migrate says. */
export async function openDatabase(
  config: DatabaseConfig,
  options: OpenDatabaseOptions = {},
): Promise<Kysely<Database>> {
  const db =
    databaseDialect(config) === 'postgres' ? connectPostgres(config, options) : await connectSqlite(config.path);
  try {
    if (options.migrations === 'none') return db;
    if (config.migrate === 'auto') {
      await migrateToLatest(db);
    } else {
      const pending = await pendingMigrations(db);
      if (pending.length > 0) {
        throw new ConfigError(
          `database.migrate: is manual and ${describeDatabase(config)} needs ${pending.length === 1 ? 'migration' : 'migrations'} ${pending.join(', ')}: run \`wharf db migrate\` with this configuration first`,
        );
      }
    }
    return db;
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
