import type { Insertable, Kysely, Selectable, SelectQueryBuilder } from 'kysely';
import type { AuditLogsTable, Database } from '../../metadata/schema.ts';
import type { AuditEntry, AuditFilter, AuditOutcome, AuditRecord } from './audit-entry.ts';

/** Rows per INSERT: 17 bound values each, far inside SQLite's and PostgreSQL's limits. */
const insertRows = 500;
/** Client-controlled text is cut to these lengths before it is stored. */
const limits = { userAgent: 512, resource: 1024, sourceAddress: 128, requestId: 128, route: 512, detail: 4096 };

type AuditQuery = SelectQueryBuilder<Database, 'audit_logs', object>;

/** The audit_logs table (migration 008): batched inserts, filtered pages, streaming, purging. */
export class AuditStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(entries: readonly AuditEntry[]): Promise<void> {
    for (let start = 0; start < entries.length; start += insertRows) {
      const rows = entries.slice(start, start + insertRows).map(toRow);
      await this.db.insertInto('audit_logs').values(rows).execute();
    }
  }

  /** A page of matching entries, newest first, and how many match in all. */
  async page(
    filter: AuditFilter,
    window: { offset: number; limit: number },
  ): Promise<{ total: number; records: AuditRecord[] }> {
    const matching = applyFilter(this.db.selectFrom('audit_logs'), filter);
    const counted = await matching.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirst();
    const rows = await matching
      .selectAll()
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .offset(window.offset)
      .limit(window.limit)
      .execute();
    return { total: Number(counted?.count ?? 0), records: rows.map(toRecord) };
  }

  async count(filter: AuditFilter): Promise<number> {
    const row = await applyFilter(this.db.selectFrom('audit_logs'), filter)
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  /**
   * Every matching entry, oldest first, read a batch at a time after the last id seen, so an
   * export of millions of rows holds one batch in memory and never re-reads from the start.
   */
  async *stream(filter: AuditFilter, batchSize = 1000): AsyncGenerator<AuditRecord> {
    let after = 0;
    for (;;) {
      const rows = await applyFilter(this.db.selectFrom('audit_logs'), filter)
        .selectAll()
        .where('id', '>', after)
        .orderBy('id')
        .limit(batchSize)
        .execute();
      for (const row of rows) yield toRecord(row);
      if (rows.length < batchSize) return;
      after = Number(rows[rows.length - 1]?.id);
    }
  }

  /**
   * Deletes entries older than `cutoff`, a batch at a time so no statement holds the table for
   * long; returns how many went. Stops between batches when `signal` aborts.
   */
  async purgeBefore(cutoff: number, options: { batchSize?: number; signal?: AbortSignal } = {}): Promise<number> {
    const batchSize = options.batchSize ?? 5000;
    let purged = 0;
    for (;;) {
      options.signal?.throwIfAborted();
      const result = await this.db
        .deleteFrom('audit_logs')
        .where('id', 'in', (eb) =>
          eb.selectFrom('audit_logs').select('id').where('occurred_at', '<', cutoff).orderBy('id').limit(batchSize),
        )
        .executeTakeFirst();
      const deleted = Number(result.numDeletedRows);
      purged += deleted;
      if (deleted < batchSize) return purged;
    }
  }
}

function applyFilter(query: AuditQuery, filter: AuditFilter): AuditQuery {
  let narrowed = query;
  if (filter.from !== undefined) narrowed = narrowed.where('occurred_at', '>=', filter.from);
  if (filter.to !== undefined) narrowed = narrowed.where('occurred_at', '<', filter.to);
  if (filter.actor !== undefined) narrowed = narrowed.where('actor_name', '=', filter.actor);
  if (filter.project !== undefined) narrowed = narrowed.where('project', '=', filter.project);
  if (filter.actions !== undefined && filter.actions.length > 0) {
    narrowed = narrowed.where('action', 'in', [...filter.actions]);
  }
  if (filter.outcome !== undefined) narrowed = narrowed.where('outcome', '=', filter.outcome);
  const resource = filter.resource;
  if (resource !== undefined) {
    // A repository's entries are `<name>:<tag>` and `<name>@<digest>`: two ranges of the resource
    // index (':' and '@' sort just before ';' and 'A', byte by byte on both databases).
    narrowed = narrowed.where((eb) =>
      eb.or([
        eb('resource', '=', resource),
        eb.and([eb('resource', '>', `${resource}:`), eb('resource', '<', `${resource};`)]),
        eb.and([eb('resource', '>', `${resource}@`), eb('resource', '<', `${resource}A`)]),
      ]),
    );
  }
  return narrowed;
}

function toRow(entry: AuditEntry): Insertable<AuditLogsTable> {
  return {
    occurred_at: entry.time,
    actor_name: cut(entry.actor.name, 255) ?? '',
    actor_kind: entry.actor.kind,
    source_address: cut(entry.sourceAddress, limits.sourceAddress),
    user_agent: cut(entry.userAgent, limits.userAgent),
    request_id: cut(entry.requestId, limits.requestId),
    action: entry.action,
    resource_type: entry.resourceType,
    resource: cut(entry.resource, limits.resource) ?? '',
    project: entry.project ?? null,
    repository: entry.repository ?? null,
    outcome: entry.outcome,
    status: entry.status ?? null,
    method: entry.method ?? null,
    route: cut(entry.route, limits.route),
    detail: detailText(entry.detail),
  };
}

function toRecord(row: Selectable<AuditLogsTable>): AuditRecord {
  const record: AuditRecord = {
    id: Number(row.id),
    time: Number(row.occurred_at),
    actor: { name: row.actor_name, kind: row.actor_kind },
    action: row.action,
    resourceType: row.resource_type,
    resource: row.resource,
    outcome: row.outcome as AuditOutcome,
  };
  if (row.source_address !== null) record.sourceAddress = row.source_address;
  if (row.user_agent !== null) record.userAgent = row.user_agent;
  if (row.request_id !== null) record.requestId = row.request_id;
  if (row.project !== null) record.project = row.project;
  if (row.repository !== null) record.repository = row.repository;
  if (row.status !== null) record.status = Number(row.status);
  if (row.method !== null) record.method = row.method;
  if (row.route !== null) record.route = row.route;
  if (row.detail !== null) record.detail = JSON.parse(row.detail) as Record<string, unknown>;
  return record;
}

function cut(value: string | undefined, length: number): string | null {
  if (value === undefined) return null;
  return value.length <= length ? value : value.slice(0, length);
}

/** The detail as JSON; one too large to keep is replaced by a note saying so, never cut mid-JSON. */
function detailText(detail: Record<string, unknown> | undefined): string | null {
  if (detail === undefined || Object.keys(detail).length === 0) return null;
  const text = JSON.stringify(detail);
  return text.length <= limits.detail ? text : JSON.stringify({ truncated: true });
}
