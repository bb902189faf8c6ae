import { Counter, type Registry } from 'prom-client';
import type { RunTotals } from './retention-store.ts';

/** `wharf_retention_runs_total{status,dry_run}` and `wharf_retention_deleted_artifacts_total`. */
export function registerRetentionMetrics(registry: Registry): (run: { dryRun: boolean; totals: RunTotals }) => void {
  const runs = new Counter({
    name: 'wharf_retention_runs_total',
    help: 'Retention runs finished, by status and whether they were dry runs.',
    labelNames: ['status', 'dry_run'] as const,
    registers: [registry],
  });
  const deleted = new Counter({
    name: 'wharf_retention_deleted_artifacts_total',
    help: 'Artifacts deleted by retention runs.',
    registers: [registry],
  });
  return ({ dryRun, totals }) => {
    runs.inc({ status: totals.status, dry_run: String(dryRun) });
    if (!dryRun) deleted.inc(totals.deleted);
  };
}
