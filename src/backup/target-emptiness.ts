import { type Kysely, sql } from 'kysely';
import type { Database } from '../metadata/schema.ts';
import type { StorageDriver } from '../storage/driver.ts';

/** What makes a restore target not empty, in words an operator can act on; undefined when it is empty. */
export async function storageContents(storage: StorageDriver): Promise<string | undefined> {
  for await (const digest of storage.listBlobs())
    return `the storage (${storage.name}) already holds blobs, e.g. ${digest}`;
  return undefined;
}

/** Checks every table, the migrations' own bookkeeping aside: a database with any row is refused. */
export async function databaseContents(database: Kysely<Database>): Promise<string | undefined> {
  const db = database as unknown as Kysely<Record<string, Record<string, unknown>>>;
  const tables = (await db.introspection.getTables())
    .map((table) => table.name)
    .filter((name) => !name.startsWith('kysely_'));
  for (const table of tables.sort()) {
    const row = await db.selectFrom(table).select(sql.lit(1).as('present')).limit(1).executeTakeFirst();
    if (row !== undefined) return `the database already has rows (table ${table})`;
  }
  return undefined;
}
