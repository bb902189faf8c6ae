import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ScanReport } from './scan-report.ts';

export interface ScanMetrics {
  scanned(status: ScanReport['status'], seconds: number): void;
  queueLength(length: number): void;
  databaseRanges(ranges: number): void;
  denied(project: string, reason: 'vulnerable' | 'unscanned'): void;
}

/** `wharf_scan_*`: scans by outcome and duration, the queue, the database, refused pulls. */
export function registerScanMetrics(registry: Registry): ScanMetrics {
  const scans = new Counter({
    name: 'wharf_scan_scans_total',
    help: 'Manifests scanned, by outcome (scanned, unsupported, failed).',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'wharf_scan_duration_seconds',
    help: 'Time to scan one manifest: reading its layers and matching its packages.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const queue = new Gauge({
    name: 'wharf_scan_queue_length',
    help: 'Manifests waiting for a scan, as this instance last saw it.',
    registers: [registry],
  });
  const ranges = new Gauge({
    name: 'wharf_scan_database_ranges',
    help: 'Affected version ranges in the vulnerability database.',
    registers: [registry],
  });
  const denials = new Counter({
    name: 'wharf_scan_pull_denials_total',
    help: 'Manifest pulls refused by the vulnerability gate (vulnerable, unscanned).',
    labelNames: ['project', 'reason'] as const,
    registers: [registry],
  });
  return {
    scanned(status, seconds) {
      scans.inc({ status });
      duration.observe(seconds);
    },
    queueLength: (length) => queue.set(length),
    databaseRanges: (count) => ranges.set(count),
    denied: (project, reason) => denials.inc({ project, reason }),
  };
}
