import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import type { Logger } from '../observability/logger.ts';
import { parseDigest } from '../oci/digest.ts';
import { VulnerabilityGate } from '../policy/vulnerabilities/vulnerability-gate.ts';
import {
  VulnerabilityPolicyStore,
  type VulnerabilityRequirement,
} from '../policy/vulnerabilities/vulnerability-policy-store.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import { ImageScanner } from '../scan/image-scanner.ts';
import { registerScanMetrics, type ScanMetrics } from '../scan/scan-metrics.ts';
import type { ScanReport } from '../scan/scan-report.ts';
import { enqueueScan, ScanReportStore } from '../scan/scan-report-store.ts';
import { scanDatabase } from '../scan/scan-tables.ts';
import { ScanWorker } from '../scan/scan-worker.ts';
import type { Severity } from '../scan/severity.ts';
import { VulnerabilityDb } from '../scan/vulnerability-db.ts';

export interface ScanningDependencies {
  /** The store itself: its listeners queue a scan inside each push's transaction. */
  metadata: MetadataStore;
  /** What scans read manifests through. */
  cachedMetadata: MetadataStore;
  metrics: Registry;
}

export interface ComposedScanning {
  gate: VulnerabilityGate;
  policies: VulnerabilityPolicyStore;
  reports: ScanReportStore;
  vulnerabilities: VulnerabilityDb;
  scanner(registry: RegistryService): ImageScanner;
  /** Starts working through the queue (server only); returns what stops it. */
  start(registry: RegistryService, logger: Logger): () => Promise<void>;
  /** Looks at the queue now (after a scan is requested) rather than at the next interval. */
  kick(): void;
}

/** How long the gate uses a report before reading it again. */
const reportCacheMs = 2_000;

/**
 * The built-in scanner (docs/scanning.md): a push queues its manifest inside the push's own
 * transaction, a worker scans it afterwards, and the vulnerability gate reads the stored report.
 */
export function composeScanning(config: Config, deps: ScanningDependencies): ComposedScanning {
  const db = scanDatabase(deps.metadata.db);
  const vulnerabilities = new VulnerabilityDb(db);
  const reports = new ScanReportStore(db);
  const policies = new VulnerabilityPolicyStore(deps.metadata.db as Kysely<unknown>);
  const metrics: ScanMetrics = registerScanMetrics(deps.metrics);
  if (config.scan.enabled) {
    deps.metadata.addChangeListener(async (trx, change) => {
      if (change.type === 'manifest.stored' && change.newInRepository) {
        await enqueueScan(trx, change.repository, change.digest, Date.now());
      }
    });
  }
  const cache = new Map<string, { until: number; report: Promise<ScanReport | undefined> }>();
  const gate = new VulnerabilityGate({
    registry: registryRequirement(config.policy.vulnerabilities),
    project: config.auth.projects.enabled ? (project) => policies.requirement(project) : undefined,
    report(digest) {
      const now = Date.now();
      const cached = cache.get(digest);
      if (cached && cached.until > now) return cached.report;
      if (cache.size > 10_000) cache.clear();
      const report = reports.get(digest);
      cache.set(digest, { until: now + reportCacheMs, report });
      report.catch(() => cache.delete(digest));
      return report;
    },
    denied: metrics.denied,
  });
  const scanner = (registry: RegistryService) =>
    new ImageScanner(
      {
        async manifest(repository, digest) {
          const found = await deps.cachedMetadata.loadManifestByDigest(repository, digest);
          return found && { mediaType: found.mediaType, payload: Buffer.from(found.payload) };
        },
        async blob(repository, digest) {
          return (await registry.openBlob(repository, parseDigest(digest))).stream;
        },
      },
      vulnerabilities,
      (digest) => reports.get(digest),
    );
  let worker: ScanWorker | undefined;
  return {
    gate,
    policies,
    reports,
    vulnerabilities,
    scanner,
    start(registry, logger) {
      if (!config.scan.enabled) return async () => {};
      const started = new ScanWorker(db, vulnerabilities, reports, scanner(registry), metrics, logger, {
        intervalMs: config.scan.interval,
        schedule: config.scan.schedule,
      });
      worker = started;
      started.start();
      return () => started.stop();
    },
    kick: () => worker?.kick(),
  };
}

function registryRequirement(settings: Config['policy']['vulnerabilities']): VulnerabilityRequirement | undefined {
  const blockSeverity =
    settings.blockseverity === 'none' ? undefined : (settings.blockseverity.toUpperCase() as Severity);
  if (!blockSeverity && !settings.blockunscanned) return undefined;
  return { source: 'registry', blockSeverity, blockUnscanned: settings.blockunscanned };
}
