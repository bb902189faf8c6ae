import { Cron } from 'croner';
import type { Logger } from '../observability/logger.ts';
import { fireTimeOf } from '../policy/retention/retention-scheduler.ts';
import type { ImageScanner } from './image-scanner.ts';
import type { ScanMetrics } from './scan-metrics.ts';
import { worstSeverity } from './scan-report.ts';
import type { ScanReportStore } from './scan-report-store.ts';
import type { ScanDatabase } from './scan-tables.ts';
import type { VulnerabilityDb } from './vulnerability-db.ts';

export interface ScanWorkerOptions {
  /** How often the queue and the database version are looked at. */
  intervalMs: number;
  /** `scan.schedule`: a cron expression that rescans every manifest; undefined for none. */
  schedule: string | undefined;
}

/**
 * Works through the scan queue (filled inside each manifest push's transaction, so a push never
 * waits for a scan), requeues reports when the vulnerability database gets a new version, and on
 * `scan.schedule` queues every manifest, the fire claimed once across instances in `scan_state`.
 */
export class ScanWorker {
  private timer: NodeJS.Timeout | undefined;
  private cron: Cron | undefined;
  private running: Promise<void> | undefined;
  private seenVersion: string | undefined;
  private stopped = false;

  constructor(
    private readonly db: ScanDatabase,
    private readonly vulnerabilities: VulnerabilityDb,
    private readonly reports: ScanReportStore,
    private readonly scanner: ImageScanner,
    private readonly metrics: ScanMetrics,
    private readonly logger: Logger,
    private readonly options: ScanWorkerOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.options.intervalMs);
    this.timer.unref();
    if (this.options.schedule) {
      this.cron = new Cron(this.options.schedule, { protect: true, unref: true, timezone: 'Etc/UTC' }, () =>
        this.scheduled().catch((error: unknown) => this.logger.error({ err: error }, 'scheduled scan failed')),
      );
    }
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.cron?.stop();
    await this.running;
  }

  /** Runs one pass now unless one is running. */
  kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.pass()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'scan queue pass failed'))
      .finally(() => {
        this.running = undefined;
      });
  }

  private async pass(): Promise<void> {
    const version = await this.vulnerabilities.version();
    if (version !== undefined && version !== this.seenVersion) {
      await this.prune();
      const requeued = await this.reports.enqueueStale(version);
      this.metrics.databaseRanges((await this.vulnerabilities.status()).ranges);
      if (this.seenVersion !== undefined || requeued > 0) {
        this.logger.info({ version, requeued }, 'vulnerability database changed; rescanning');
      }
      this.seenVersion = version;
    }
    for (let next = await this.reports.claimNext(); next && !this.stopped; next = await this.reports.claimNext()) {
      const started = performance.now();
      const report = await this.scanner.scan(next.repository, next.digest);
      await this.reports.save(report, worstSeverity(report.findings));
      this.metrics.scanned(report.status, (performance.now() - started) / 1000);
      if (report.status === 'failed') {
        this.logger.warn({ repository: next.repository, digest: next.digest, error: report.error }, 'scan failed');
      }
    }
    this.metrics.queueLength(await this.reports.queueLength());
  }

  private async prune(): Promise<void> {
    const pruned = await this.reports.pruneOrphans();
    if (pruned > 0) this.logger.info({ pruned }, 'deleted the scan reports of deleted manifests');
  }

  /** Queues every stored manifest, once per fire across instances. */
  private async scheduled(): Promise<void> {
    if (!this.cron) return;
    const fire = fireTimeOf(this.cron, Date.now());
    const claimed = await this.db
      .insertInto('scan_state')
      .values({ name: `schedule.${fire}`, value: String(Date.now()) })
      .onConflict((conflict) => conflict.column('name').doNothing())
      .executeTakeFirst();
    if (Number(claimed.numInsertedOrUpdatedRows ?? 0) !== 1) return;
    await this.db
      .deleteFrom('scan_state')
      .where('name', 'like', 'schedule.%')
      .where('name', '!=', `schedule.${fire}`)
      .execute();
    const manifests = await this.db
      .withTables<{
        manifests: { digest: string; repository_id: number };
        repositories: { id: number; name: string };
      }>()
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select(['manifests.digest', 'repositories.name'])
      .execute();
    await this.prune();
    for (const manifest of manifests) await this.reports.enqueue(manifest.name, manifest.digest);
    this.logger.info({ manifests: manifests.length }, 'scheduled scan queued every manifest');
    this.kick();
  }
}
