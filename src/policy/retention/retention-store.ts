import { type Kysely, sql } from 'kysely';
import type { Database } from '../../metadata/schema.ts';
import { chunked } from '../project-scope.ts';
import { parseStoredRules, type RetentionRule } from './retention-rules.ts';

type ProjectColumns = { projects: { id: number; name: string } };

export interface RetentionPolicy {
  projectId: number;
  project: string;
  rules: RetentionRule[];
  /** A cron expression, or null: run by hand only. */
  schedule: string | null;
  updatedAt: number;
  updatedBy: string | null;
}

export type RunTrigger = 'manual' | 'schedule';
export type RunStatus = 'running' | 'succeeded' | 'failed';

export interface RetentionRun {
  id: number;
  project: string;
  trigger: RunTrigger;
  dryRun: boolean;
  status: RunStatus;
  triggeredBy: string | null;
  scheduledFor: number | null;
  startedAt: number;
  finishedAt: number | null;
  /** Artifacts judged (in repositories a rule applies to). */
  total: number;
  retained: number;
  /** Deleted, or (dry run) to be deleted. */
  deleted: number;
  failed: number;
  /** What the deletions release from the project's usage (src/policy/quota): manifests and blobs no longer referenced. */
  bytesFreed: number;
  error: string | null;
}

export type RunOutcome = 'deleted' | 'would-delete' | 'failed';

export interface RunArtifact {
  repository: string;
  digest: string;
  tags: string[];
  size: number;
  outcome: RunOutcome;
  error: string | null;
}

export interface RunTotals {
  status: RunStatus;
  total: number;
  retained: number;
  deleted: number;
  failed: number;
  bytesFreed: number;
  error: string | null;
}

/** Retention policies per project and the record of their runs. */
export class RetentionStore {
  private readonly db: Kysely<Database & ProjectColumns>;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<ProjectColumns>();
  }

  async findPolicy(project: string): Promise<RetentionPolicy | undefined> {
    const row = await this.policies().where('projects.name', '=', project).executeTakeFirst();
    return row && toPolicy(row);
  }

  /** Every policy with a schedule: what the scheduler runs. */
  async scheduledPolicies(): Promise<RetentionPolicy[]> {
    const rows = await this.policies().where('retention_policies.schedule', 'is not', null).execute();
    return rows.map(toPolicy);
  }

  async savePolicy(
    projectId: number,
    policy: { rules: RetentionRule[]; schedule: string | null },
    updatedBy: string,
  ): Promise<void> {
    const values = {
      rules: JSON.stringify(policy.rules),
      schedule: policy.schedule,
      updated_at: Date.now(),
      updated_by: updatedBy,
    };
    await this.db
      .insertInto('retention_policies')
      .values({ project_id: projectId, ...values })
      .onConflict((conflict) => conflict.column('project_id').doUpdateSet(values))
      .execute();
  }

  async deletePolicy(projectId: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('retention_policies')
      .where('project_id', '=', projectId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Records a run as started. A scheduled run names its fire time, which only one run per project
   * may claim: undefined when another instance claimed it first.
   */
  async startRun(
    projectId: number,
    run: { trigger: RunTrigger; dryRun: boolean; triggeredBy: string | null; scheduledFor: number | null },
  ): Promise<number | undefined> {
    const now = Date.now();
    const inserted = await this.db
      .insertInto('retention_runs')
      .values({
        project_id: projectId,
        trigger: run.trigger,
        dry_run: run.dryRun ? 1 : 0,
        status: 'running',
        triggered_by: run.triggeredBy,
        scheduled_for: run.scheduledFor,
        started_at: now,
        heartbeat_at: now,
      })
      .onConflict((conflict) => conflict.columns(['project_id', 'scheduled_for']).doNothing())
      .returning('id')
      .executeTakeFirst();
    return inserted?.id;
  }

  async finishRun(id: number, totals: RunTotals): Promise<void> {
    await this.db
      .updateTable('retention_runs')
      .set({
        status: totals.status,
        finished_at: Date.now(),
        total: totals.total,
        retained: totals.retained,
        deleted: totals.deleted,
        failed: totals.failed,
        bytes_freed: totals.bytesFreed,
        error: totals.error,
      })
      .where('id', '=', id)
      .execute();
  }

  /** Tells other instances (and this one after a restart) that the run is still under way. */
  async heartbeat(id: number): Promise<void> {
    await this.db
      .updateTable('retention_runs')
      .set({ heartbeat_at: Date.now() })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute();
  }

  /**
   * Runs left running by a process that died (no heartbeat since `heartbeatBefore`; runs recorded
   * before heartbeats existed count from their start): marked failed. Returns their ids.
   */
  async failAbandoned(heartbeatBefore: number): Promise<number[]> {
    const lastSeen = sql<number>`coalesce(heartbeat_at, started_at)`;
    const rows = await this.db
      .updateTable('retention_runs')
      .set({
        status: 'failed',
        finished_at: Date.now(),
        error: 'interrupted: the process running it stopped before it finished; start it again to apply the rest',
      })
      .where('status', '=', 'running')
      .where(lastSeen, '<', heartbeatBefore)
      .returning('id')
      .execute();
    return rows.map((row) => row.id);
  }

  async addRunArtifacts(runId: number, artifacts: readonly RunArtifact[]): Promise<void> {
    for (const chunk of chunked(artifacts, 100)) {
      await this.db
        .insertInto('retention_run_artifacts')
        .values(
          chunk.map((artifact) => ({
            run_id: runId,
            repository: artifact.repository,
            digest: artifact.digest,
            tags: JSON.stringify(artifact.tags),
            size: artifact.size,
            outcome: artifact.outcome,
            error: artifact.error,
          })),
        )
        .onConflict((conflict) => conflict.columns(['run_id', 'repository', 'digest']).doNothing())
        .execute();
    }
  }

  async findRun(project: string, id: number): Promise<RetentionRun | undefined> {
    const row = await this.runs()
      .where('projects.name', '=', project)
      .where('retention_runs.id', '=', id)
      .executeTakeFirst();
    return row && toRun(row);
  }

  /** A page of the project's runs, newest first, and how many there are. */
  async listRuns(
    project: string,
    page: { offset: number; limit: number },
  ): Promise<{ total: number; runs: RetentionRun[] }> {
    const count = await this.db
      .selectFrom('retention_runs')
      .innerJoin('projects', 'projects.id', 'retention_runs.project_id')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where('projects.name', '=', project)
      .executeTakeFirstOrThrow();
    const rows = await this.runs()
      .where('projects.name', '=', project)
      .orderBy('retention_runs.id', 'desc')
      .limit(page.limit)
      .offset(page.offset)
      .execute();
    return { total: Number(count.count), runs: rows.map(toRun) };
  }

  async listRunArtifacts(
    runId: number,
    page: { offset: number; limit: number },
  ): Promise<{ total: number; artifacts: RunArtifact[] }> {
    const count = await this.db
      .selectFrom('retention_run_artifacts')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where('run_id', '=', runId)
      .executeTakeFirstOrThrow();
    const rows = await this.db
      .selectFrom('retention_run_artifacts')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('repository')
      .orderBy('digest')
      .limit(page.limit)
      .offset(page.offset)
      .execute();
    return {
      total: Number(count.count),
      artifacts: rows.map((row) => ({
        repository: row.repository,
        digest: row.digest,
        tags: JSON.parse(row.tags) as string[],
        size: Number(row.size),
        outcome: row.outcome as RunOutcome,
        error: row.error,
      })),
    };
  }

  private policies() {
    return this.db
      .selectFrom('retention_policies')
      .innerJoin('projects', 'projects.id', 'retention_policies.project_id')
      .select([
        'retention_policies.project_id',
        'projects.name',
        'retention_policies.rules',
        'retention_policies.schedule',
        'retention_policies.updated_at',
        'retention_policies.updated_by',
      ]);
  }

  private runs() {
    return this.db
      .selectFrom('retention_runs')
      .innerJoin('projects', 'projects.id', 'retention_runs.project_id')
      .selectAll('retention_runs')
      .select('projects.name as project');
  }
}

function toPolicy(row: {
  project_id: number;
  name: string;
  rules: string;
  schedule: string | null;
  updated_at: number;
  updated_by: string | null;
}): RetentionPolicy {
  return {
    projectId: row.project_id,
    project: row.name,
    rules: parseStoredRules(row.rules),
    schedule: row.schedule,
    updatedAt: Number(row.updated_at),
    updatedBy: row.updated_by,
  };
}

function toRun(row: {
  id: number;
  project: string;
  trigger: string;
  dry_run: number;
  status: string;
  triggered_by: string | null;
  scheduled_for: number | null;
  started_at: number;
  finished_at: number | null;
  total: number;
  retained: number;
  deleted: number;
  failed: number;
  bytes_freed: number;
  error: string | null;
}): RetentionRun {
  return {
    id: row.id,
    project: row.project,
    trigger: row.trigger as RunTrigger,
    dryRun: row.dry_run === 1,
    status: row.status as RunStatus,
    triggeredBy: row.triggered_by,
    scheduledFor: row.scheduled_for === null ? null : Number(row.scheduled_for),
    startedAt: Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    total: Number(row.total),
    retained: Number(row.retained),
    deleted: Number(row.deleted),
    failed: Number(row.failed),
    bytesFreed: Number(row.bytes_freed),
    error: row.error,
  };
}
