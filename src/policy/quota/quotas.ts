import type { Kysely } from 'kysely';
import { projectOf } from '../../auth/projects/project-name.ts';
import type { Database } from '../../metadata/schema.ts';
import { limitsOf, type ProjectQuotaColumns } from './quota-limits.ts';
import { lockUsage, measureUsage, readUsage, writeUsage } from './usage-queries.ts';
import {
  noUsage,
  projectScope,
  type QuotaLimits,
  registryScope,
  scopeKey,
  type Usage,
  type UsageScope,
} from './usage-scope.ts';

export interface QuotaStanding {
  limits: QuotaLimits;
  used: Usage;
}

export interface ProjectUsage extends QuotaStanding {
  project: string;
}

/** What a recomputation found: the recorded usage (undefined if none was) and the true one. */
export interface Recomputed {
  scope: string;
  before: Usage | undefined;
  after: Usage;
}

/** Quotas and usage as the management API, the metrics and repairs see them. */
export class Quotas {
  private readonly db: Kysely<Database & ProjectQuotaColumns>;

  constructor(
    private readonly database: Kysely<Database>,
    private readonly registryQuotaBytes: number | undefined,
  ) {
    this.db = database.withTables<ProjectQuotaColumns>();
  }

  /** Whether the registry's usage is kept (only with `storage.quota`; else it is counted when asked). */
  get registryUsageKept(): boolean {
    return this.registryQuotaBytes !== undefined;
  }

  async project(project: string): Promise<QuotaStanding> {
    const scope = projectScope(project);
    return {
      limits: await limitsOf(this.database, scope, this.registryQuotaBytes),
      used: (await readUsage(this.database, scope)) ?? (await measureUsage(this.database, scope)),
    };
  }

  async registry(): Promise<QuotaStanding> {
    const used = this.registryUsageKept ? await readUsage(this.database, registryScope) : undefined;
    return {
      limits: { bytes: this.registryQuotaBytes ?? null, artifacts: null },
      used: used ?? (await measureUsage(this.database, registryScope)),
    };
  }

  /** Sets (or, with null, lifts) a project's limits; undefined leaves one as it is. */
  async setProjectLimits(project: string, limits: Partial<QuotaLimits>): Promise<void> {
    const values: { quota_bytes?: number | null; quota_artifacts?: number | null } = {};
    if (limits.bytes !== undefined) values.quota_bytes = limits.bytes;
    if (limits.artifacts !== undefined) values.quota_artifacts = limits.artifacts;
    if (Object.keys(values).length === 0) return;
    await this.db.updateTable('projects').set(values).where('name', '=', project).execute();
  }

  /** Every project with recorded usage or a quota, by name: what the metrics show. */
  async listProjects(): Promise<ProjectUsage[]> {
    const [rows, projects] = await Promise.all([
      this.db
        .selectFrom('storage_usage')
        .select(['scope', 'bytes', 'artifacts'])
        .where('scope', 'like', 'project:%')
        .execute(),
      this.db.selectFrom('projects').select(['name', 'quota_bytes', 'quota_artifacts']).execute(),
    ]);
    const byName = new Map<string, ProjectUsage>();
    for (const row of rows) {
      const project = row.scope.slice('project:'.length);
      byName.set(project, {
        project,
        limits: { bytes: null, artifacts: null },
        used: { bytes: Number(row.bytes), artifacts: Number(row.artifacts) },
      });
    }
    for (const row of projects) {
      const entry = byName.get(row.name) ?? {
        project: row.name,
        limits: { bytes: null, artifacts: null },
        used: noUsage,
      };
      entry.limits = {
        bytes: row.quota_bytes == null ? null : Number(row.quota_bytes),
        artifacts: row.quota_artifacts == null ? null : Number(row.quota_artifacts),
      };
      byName.set(row.name, entry);
    }
    return [...byName.values()].sort((a, b) => (a.project < b.project ? -1 : a.project > b.project ? 1 : 0));
  }

  /**
   * Counts the scope again from scratch and records that, holding its usage row meanwhile: writes
   * that committed before are in the count, writes waiting for the row add themselves after.
   */
  async recompute(scope: UsageScope): Promise<Recomputed> {
    return this.database.transaction().execute(async (trx) => {
      const { usage, fresh } = await lockUsage(trx, scope);
      const after = await measureUsage(trx, scope);
      await writeUsage(trx, scope, after);
      return { scope: scopeKey(scope), before: fresh ? undefined : usage, after };
    });
  }

  /** Recomputes every project that holds repositories or has recorded usage, and the registry's when kept. */
  async recomputeAll(): Promise<Recomputed[]> {
    const names = new Set<string>();
    for (const row of await this.db.selectFrom('repositories').select('name').execute()) names.add(projectOf(row.name));
    const recorded = await this.db
      .selectFrom('storage_usage')
      .select('scope')
      .where('scope', 'like', 'project:%')
      .execute();
    for (const row of recorded) names.add(row.scope.slice('project:'.length));
    const results: Recomputed[] = [];
    for (const name of [...names].sort()) results.push(await this.recompute(projectScope(name)));
    if (this.registryUsageKept) results.push(await this.recompute(registryScope));
    return results;
  }

  /**
   * Counts the projects that hold repositories but have no usage recorded (a database from before
   * quotas), so every write finds its project counted; returns how many there were.
   */
  async countUncounted(): Promise<number> {
    const recorded = await this.db
      .selectFrom('storage_usage')
      .select('scope')
      .where('scope', 'like', 'project:%')
      .execute();
    const counted = new Set(recorded.map((row) => row.scope.slice('project:'.length)));
    const uncounted = new Set<string>();
    for (const row of await this.db.selectFrom('repositories').select('name').execute()) {
      const project = projectOf(row.name);
      if (!counted.has(project)) uncounted.add(project);
    }
    for (const project of uncounted) await this.recompute(projectScope(project));
    return uncounted.size;
  }

  /** Drops the usage row of a project that no longer exists and holds nothing. */
  async forgetEmptyProject(project: string): Promise<void> {
    await this.db
      .deleteFrom('storage_usage')
      .where('scope', '=', scopeKey(projectScope(project)))
      .where('bytes', '=', 0)
      .where('artifacts', '=', 0)
      .execute();
  }
}
