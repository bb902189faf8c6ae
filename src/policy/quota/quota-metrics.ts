import { Gauge, type Registry } from 'prom-client';
import type { Quotas } from './quotas.ts';

/** Scrapes within this time share one reading of the usage table. */
const snapshotMs = 1_000;

/**
 * Usage and quotas as gauges, read from the database when scraped: `wharf_project_storage_bytes`,
 * `wharf_project_artifacts` and their quotas per project (a quota gauge only where one is set), and
 * with `storage.quota` the registry's usage and quota.
 */
export function registerQuotaMetrics(registry: Registry, quotas: Quotas): void {
  let snapshot: { at: number; reading: ReturnType<typeof read> } | undefined;
  const read = async () => ({
    projects: await quotas.listProjects(),
    registry: quotas.registryUsageKept ? await quotas.registry() : undefined,
  });
  const current = () => {
    if (!snapshot || Date.now() - snapshot.at > snapshotMs) {
      snapshot = { at: Date.now(), reading: read() };
      snapshot.reading.catch(() => {
        snapshot = undefined;
      });
    }
    return snapshot.reading;
  };
  const registers = [registry];
  const perProject = (
    name: string,
    help: string,
    value: (reading: Awaited<ReturnType<typeof read>>) => Map<string, number>,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['project'] as const,
      registers,
      async collect() {
        const values = value(await current());
        this.reset();
        for (const [project, amount] of values) this.set({ project }, amount);
      },
    });
  perProject(
    'wharf_project_storage_bytes',
    'Bytes a project holds: distinct blobs its manifests reference, plus the manifests.',
    (reading) => new Map(reading.projects.map((entry) => [entry.project, entry.used.bytes])),
  );
  perProject(
    'wharf_project_artifacts',
    'Manifests a project holds.',
    (reading) => new Map(reading.projects.map((entry) => [entry.project, entry.used.artifacts])),
  );
  perProject(
    'wharf_project_quota_bytes',
    "A project's storage quota in bytes, where one is set.",
    (reading) =>
      new Map(
        reading.projects.flatMap((entry) => (entry.limits.bytes === null ? [] : [[entry.project, entry.limits.bytes]])),
      ),
  );
  perProject(
    'wharf_project_quota_artifacts',
    "A project's artifact quota, where one is set.",
    (reading) =>
      new Map(
        reading.projects.flatMap((entry) =>
          entry.limits.artifacts === null ? [] : [[entry.project, entry.limits.artifacts]],
        ),
      ),
  );
  // Without storage.quota the registry's usage is not kept, and counting it at every scrape costs a
  // scan of every manifest's blobs: it is left to GET /api/v1/usage then.
  if (quotas.registryUsageKept) {
    new Gauge({
      name: 'wharf_registry_storage_bytes',
      help: 'Bytes the registry holds: distinct blobs its manifests reference, plus the manifests.',
      registers,
      async collect() {
        const registry = (await current()).registry;
        if (registry) this.set(registry.used.bytes);
      },
    });
    new Gauge({
      name: 'wharf_registry_quota_bytes',
      help: 'storage.quota: the bytes the whole registry may hold.',
      registers,
      async collect() {
        const limit = (await current()).registry?.limits.bytes;
        if (limit != null) this.set(limit);
      },
    });
  }
}
