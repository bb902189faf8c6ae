import type { ExpressionBuilder } from 'kysely';
import type { ScanReport } from './scan-report.ts';
import { type ScanDatabase, type ScanTables, scanDatabase } from './scan-tables.ts';
import { type Severity, severities, severityRank } from './severity.ts';

export interface ReportListing {
  digest: string;
  repository: string;
  status: ScanReport['status'];
  worstSeverity: Severity;
  findingCount: number;
  scannedAt: number;
  dbVersion: string;
}

/** Scan reports per manifest digest, and the queue of manifests waiting for a scan. */
export class ScanReportStore {
  constructor(private readonly db: ScanDatabase) {}

  async save(report: ScanReport, worst: Severity): Promise<void> {
    const row = {
      repository: report.repository,
      status: report.status,
      db_version: report.dbVersion,
      scanned_at: report.scannedAt,
      worst_severity: worst,
      finding_count: report.findings.length,
      report: JSON.stringify(report),
    };
    await this.db
      .insertInto('scan_reports')
      .values({ digest: report.digest, ...row })
      .onConflict((conflict) => conflict.column('digest').doUpdateSet(row))
      .execute();
  }

  async get(digest: string): Promise<ScanReport | undefined> {
    const row = await this.db
      .selectFrom('scan_reports')
      .select('report')
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row ? (JSON.parse(row.report) as ScanReport) : undefined;
  }

  /** Reports whose worst finding is at least `minimum`, worst first, in repositories under `prefix`. */
  async list(options: { minimum: Severity; prefix?: string; limit: number; offset: number }): Promise<ReportListing[]> {
    const wanted = severities.filter((severity) => severityRank(severity) >= severityRank(options.minimum));
    let query = this.db
      .selectFrom('scan_reports')
      .select(['digest', 'repository', 'status', 'worst_severity', 'finding_count', 'scanned_at', 'db_version'])
      .where('worst_severity', 'in', wanted)
      .where('status', '=', 'scanned')
      .where(({ exists, selectFrom }) => exists(storedManifest(selectFrom)));
    if (options.prefix) query = query.where('repository', 'like', `${options.prefix.replace(/[%_\\]/g, '\\$&')}%`);
    const rows = await query.orderBy('digest').limit(options.limit).offset(options.offset).execute();
    return rows
      .map((row) => ({
        digest: row.digest,
        repository: row.repository,
        status: row.status as ScanReport['status'],
        worstSeverity: row.worst_severity as Severity,
        findingCount: Number(row.finding_count),
        scannedAt: Number(row.scanned_at),
        dbVersion: row.db_version,
      }))
      .sort((a, b) => severityRank(b.worstSeverity) - severityRank(a.worstSeverity));
  }

  async enqueue(repository: string, digest: string, now = Date.now()): Promise<void> {
    await enqueueScan(this.db, repository, digest, now);
  }

  /** Queues every report of a stored manifest computed against another database version; returns how many. */
  async enqueueStale(version: string, now = Date.now()): Promise<number> {
    const stale = await this.db
      .selectFrom('scan_reports')
      .select(['digest', 'repository'])
      .where('db_version', '!=', version)
      .where(({ exists, selectFrom }) => exists(storedManifest(selectFrom)))
      .execute();
    for (const row of stale) await this.enqueue(row.repository, row.digest, now);
    return stale.length;
  }

  /** Takes the oldest queued manifest; across instances each is taken by one (the delete decides). */
  async claimNext(): Promise<{ repository: string; digest: string } | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const next = await this.db
        .selectFrom('scan_queue')
        .select(['digest', 'repository'])
        .orderBy('enqueued_at')
        .orderBy('digest')
        .limit(1)
        .executeTakeFirst();
      if (!next) return undefined;
      const deleted = await this.db.deleteFrom('scan_queue').where('digest', '=', next.digest).executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 1) return next;
    }
    return undefined;
  }

  /** Deletes the reports of manifests no repository holds any more; returns how many. */
  async pruneOrphans(): Promise<number> {
    const deleted = await this.db
      .deleteFrom('scan_reports')
      .where(({ not, exists, selectFrom }) => not(exists(storedManifest(selectFrom))))
      .executeTakeFirst();
    return Number(deleted.numDeletedRows);
  }

  async queueLength(): Promise<number> {
    const row = await this.db
      .selectFrom('scan_queue')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }
}

/** Any manifest, in any repository, with the digest of the report in hand. */
function storedManifest(selectFrom: ExpressionBuilder<ScanTables, 'scan_reports'>['selectFrom']) {
  return selectFrom('manifests').select('manifests.id').whereRef('manifests.digest', '=', 'scan_reports.digest');
}

/** Queues a scan, inside the caller's transaction when given one (a manifest push). */
export async function enqueueScan(db: object, repository: string, digest: string, now: number): Promise<void> {
  await scanDatabase(db)
    .insertInto('scan_queue')
    .values({ digest, repository, enqueued_at: now })
    .onConflict((conflict) => conflict.column('digest').doNothing())
    .execute();
}
