import { type Kysely, sql } from 'kysely';
import { migrateToLatest, pendingMigrations } from './migrate.ts';
import { isPostgres } from './migrations/column-types.ts';
import type { Database } from './schema.ts';

interface CopiedTable {
  name: string;
  /** Its primary key: rows are read in this order, a page at a time. */
  key: readonly string[];
  /** An `id` the database numbers, whose sequence must continue after the copied rows. */
  numbered?: boolean;
}

/** Every table the migrations create, parents before the children whose foreign keys name them. */
const tables: readonly CopiedTable[] = [
  { name: 'repositories', key: ['id'], numbered: true },
  { name: 'blobs', key: ['digest'] },
  { name: 'repository_blobs', key: ['repository_id', 'digest'] },
  { name: 'manifests', key: ['id'], numbered: true },
  { name: 'manifest_blobs', key: ['manifest_id', 'digest'] },
  { name: 'manifest_references', key: ['parent_id', 'child_digest'] },
  { name: 'tags', key: ['repository_id', 'name'] },
  { name: 'uploads', key: ['id'] },
  { name: 'users', key: ['id'], numbered: true },
  { name: 'robots', key: ['id'], numbered: true },
  { name: 'projects', key: ['id'], numbered: true },
  { name: 'project_members', key: ['id'], numbered: true },
  { name: 'oidc_users', key: ['username'] },
  { name: 'webhook_policies', key: ['id'], numbered: true },
  { name: 'event_outbox', key: ['id'] },
  { name: 'event_deliveries', key: ['id'], numbered: true },
  { name: 'gc_blob_reviews', key: ['digest'] },
  { name: 'gc_manifest_reviews', key: ['manifest_id'] },
  { name: 'audit_logs', key: ['id'], numbered: true },
  { name: 'proxy_projects', key: ['project_id'] },
  { name: 'proxy_tag_checks', key: ['repository', 'tag'] },
  { name: 'storage_usage', key: ['scope'] },
  { name: 'immutability_rules', key: ['id'], numbered: true },
  { name: 'retention_policies', key: ['project_id'] },
  { name: 'retention_runs', key: ['id'], numbered: true },
  { name: 'retention_run_artifacts', key: ['run_id', 'repository', 'digest'] },
  { name: 'replication_registries', key: ['id'], numbered: true },
  { name: 'replication_policies', key: ['id'], numbered: true },
  { name: 'replication_executions', key: ['id'], numbered: true },
  { name: 'replication_tasks', key: ['id'], numbered: true },
  { name: 'replication_triggers', key: ['id'], numbered: true },
  { name: 'signature_policies', key: ['project_id'] },
  { name: 'vulnerability_ranges', key: ['id'], numbered: true },
  { name: 'scan_state', key: ['name'] },
  { name: 'scan_reports', key: ['digest'] },
  { name: 'scan_queue', key: ['digest'] },
  { name: 'vulnerability_policies', key: ['project_id'] },
];

/** Rows per statement: a few thousand bound values, well inside both dialects' limits. */
const pageRows = 500;

type Row = Record<string, unknown>;
type AnyTables = Record<string, Row>;

export class CopyError extends Error {}

/**
 * Copies every row of one metadata database into another, empty one, in a single transaction on
 * the destination: either all of it is there afterwards or none. The source must be at the latest
 * migration (it is only read); the destination is migrated first. Ids are kept, so manifests,
 * tags and memberships point at the same rows, and PostgreSQL's sequences continue after them.
 */
export async function copyDatabase(
  sourceDb: Kysely<Database>,
  targetDb: Kysely<Database>,
  onTable: (table: string, rows: number) => void = () => {},
): Promise<Map<string, number>> {
  const pending = await pendingMigrations(sourceDb);
  if (pending.length > 0) {
    throw new CopyError(
      `the source database needs migrations ${pending.join(', ')}: run \`wharf db migrate\` on it first`,
    );
  }
  const source = sourceDb as unknown as Kysely<AnyTables>;
  const unknown = (await source.introspection.getTables())
    .map((table) => table.name)
    .filter((name) => !tables.some((table) => table.name === name));
  if (unknown.length > 0) throw new CopyError(`the source database has tables this version does not know: ${unknown}`);

  await migrateToLatest(targetDb);
  const target = targetDb as unknown as Kysely<AnyTables>;
  for (const table of tables) {
    const row = await target.selectFrom(table.name).select(sql.lit(1).as('present')).limit(1).executeTakeFirst();
    if (row !== undefined) {
      throw new CopyError(
        `the destination database is not empty (table ${table.name} has rows): copy into a new database`,
      );
    }
  }

  const counts = new Map<string, number>();
  await target.transaction().execute(async (trx) => {
    for (const table of tables) {
      let copied = 0;
      for await (const page of pages(source, table)) {
        await trx.insertInto(table.name).values(page).execute();
        copied += page.length;
      }
      if (table.numbered && isPostgres(targetDb)) {
        await sql`select setval(pg_get_serial_sequence(${table.name}, 'id'), coalesce((select max(id) from ${sql.table(table.name)}), 0) + 1, false)`.execute(
          trx,
        );
      }
      counts.set(table.name, copied);
      onTable(table.name, copied);
    }
  });
  return counts;
}

/** The table's rows in key order, a page at a time, each page starting after the last key read. */
async function* pages(db: Kysely<AnyTables>, table: CopiedTable): AsyncGenerator<Row[]> {
  let after: unknown[] | undefined;
  for (;;) {
    let query = db.selectFrom(table.name).selectAll();
    if (after !== undefined) {
      const keys = sql.join(table.key.map((column) => sql.ref(column)));
      const values = sql.join(after.map((value) => sql.val(value)));
      query = query.where(sql<boolean>`(${keys}) > (${values})`);
    }
    for (const column of table.key) query = query.orderBy(sql.ref(column));
    const rows = await query.limit(pageRows).execute();
    if (rows.length > 0) yield rows;
    if (rows.length < pageRows) return;
    const last = rows[rows.length - 1] as Row;
    after = table.key.map((column) => last[column]);
  }
}
