import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrateToLatest } from './migrate.ts';
import type { Database } from './schema.ts';

/** The embedded metadata database, migrated to the latest schema. */
export async function openSqlite(path: string): Promise<Kysely<Database>> {
  const db = await connectSqlite(path);
  await migrateToLatest(db);
  return db;
}

/**
 * Opens the SQLite file without migrating it. WAL lets readers run while a writer commits;
 * synchronous=FULL makes every acknowledged commit survive a power cut, not just a process crash.
 */
export async function connectSqlite(path: string, options: { readonly?: boolean } = {}): Promise<Kysely<Database>> {
  if (!options.readonly && path !== ':memory:') await mkdir(dirname(path), { recursive: true });
  const database = new SQLite(path, { readonly: options.readonly === true, fileMustExist: options.readonly === true });
  if (!options.readonly) {
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = FULL');
  }
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
}
