import type { Generated, Kysely } from 'kysely';

/** The tables of migration 012, typed for Kysely beside the metadata store's own (a type: withTables wants an index signature). */
export type ScanTables = {
  vulnerability_ranges: {
    id: Generated<number>;
    advisory_id: string;
    ecosystem: string;
    package_name: string;
    introduced: string;
    fixed: string | null;
    last_affected: string | null;
    severity: string;
    summary: string;
  };
  scan_state: { name: string; value: string };
  scan_reports: {
    digest: string;
    repository: string;
    status: string;
    db_version: string;
    scanned_at: number;
    worst_severity: string;
    finding_count: number;
    report: string;
  };
  scan_queue: { digest: string; repository: string; enqueued_at: number };
  /** The metadata store's table, as far as scans look at it. */
  manifests: { id: Generated<number>; digest: string; repository_id: number };
  vulnerability_policies: {
    project_id: number;
    block_severity: string | null;
    block_unscanned: number;
    updated_at: number;
    updated_by: string | null;
  };
};

export type ScanDatabase = Kysely<ScanTables>;

/**
 * The scan tables of a metadata database or of a transaction on it. Table types exist only for
 * the compiler, so the same object is seen with these tables' types.
 */
export function scanDatabase(db: Kysely<object> | object): ScanDatabase {
  return db as ScanDatabase;
}
