import type { Kysely } from 'kysely';
import type { JobLocks } from '../../coordination/job-lock.ts';
import type { Database } from '../../metadata/schema.ts';
import type { Logger } from '../../observability/logger.ts';
import { runWithRequestContext } from '../../observability/request-context.ts';
import { isRegistryError } from '../../oci/errors.ts';
import type { Artifact, ArtifactInventory } from '../artifact-inventory.ts';
import type { ImmutabilityRules } from '../immutability/immutability-rules.ts';
import { releasedBytes } from './released-bytes.ts';
import { evaluateRepository } from './retention-evaluator.ts';
import type {
  RetentionPolicy,
  RetentionRun,
  RetentionStore,
  RunArtifact,
  RunTotals,
  RunTrigger,
} from './retention-store.ts';

/** A run holds its project's lock this long between renewals (Redis renews it while the run lasts). */
const lockTtlMs = 5 * 60_000;

/** How often a run under way renews its heartbeat (retention-scheduler.ts fails runs whose heartbeat stops). */
export const runHeartbeatMs = 10_000;

export interface RetentionRunnerDependencies {
  db: Kysely<Database>;
  store: RetentionStore;
  inventory: ArtifactInventory;
  immutability: ImmutabilityRules;
  /** The registry's own delete, as a user's DELETE by digest: immutability, GC reviews and events apply. */
  deleteManifest(repository: string, digest: string): Promise<void>;
  locks: JobLocks;
  logger: Logger;
  /** Told of every finished run, once it is recorded (metrics, the retention.finished event). */
  finished?(run: FinishedRun): void | Promise<void>;
}

export interface FinishedRun {
  id: number;
  project: string;
  trigger: RunTrigger;
  /** Who started a manual run. */
  triggeredBy: string | null;
  dryRun: boolean;
  totals: RunTotals;
}

/**
 * Runs retention policies: judges every repository of the project (retention-evaluator.ts), then
 * deletes what goes through the registry, one artifact at a time, and records the run. A dry run
 * only records what would go. Runs that delete take the project's job lock, so two never overlap.
 */
export class RetentionRunner {
  private readonly running = new Set<Promise<void>>();
  private readonly stopping = new AbortController();

  constructor(private readonly deps: RetentionRunnerDependencies) {}

  /** Starts a run by hand and returns its record at once; the run goes on in the background. */
  async start(policy: RetentionPolicy, options: { dryRun: boolean; triggeredBy: string }): Promise<RetentionRun> {
    const id = await this.deps.store.startRun(policy.projectId, {
      trigger: 'manual',
      dryRun: options.dryRun,
      triggeredBy: options.triggeredBy,
      scheduledFor: null,
    });
    if (id === undefined) throw new Error('a manual retention run could not be recorded');
    this.track(this.execute(id, policy, options.dryRun, { trigger: 'manual', triggeredBy: options.triggeredBy }));
    const run = await this.deps.store.findRun(policy.project, id);
    if (!run) throw new Error(`retention run ${id} vanished after it started`);
    return run;
  }

  /** Runs the schedule's fire at `scheduledFor`, unless another instance claimed it first. */
  async runScheduled(policy: RetentionPolicy, scheduledFor: number): Promise<void> {
    const id = await this.deps.store.startRun(policy.projectId, {
      trigger: 'schedule',
      dryRun: false,
      triggeredBy: null,
      scheduledFor,
    });
    if (id === undefined) return;
    const run = this.execute(id, policy, false, { trigger: 'schedule', triggeredBy: null });
    this.track(run);
    await run;
  }

  /** Stops the runs under way (each is recorded as failed) and waits for them. */
  async close(): Promise<void> {
    this.stopping.abort(new Error('the registry is shutting down'));
    await Promise.allSettled([...this.running]);
  }

  private track(run: Promise<void>): void {
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  private async execute(
    id: number,
    policy: RetentionPolicy,
    dryRun: boolean,
    origin: Pick<FinishedRun, 'trigger' | 'triggeredBy'>,
  ): Promise<void> {
    const heartbeat = setInterval(() => {
      this.deps.store
        .heartbeat(id)
        .catch((error: unknown) => this.deps.logger.warn({ err: error, run: id }, 'retention heartbeat failed'));
    }, runHeartbeatMs);
    heartbeat.unref();
    let totals: RunTotals;
    try {
      if (dryRun) {
        totals = await this.apply(id, policy, true, this.stopping.signal);
      } else {
        const outcome = await this.deps.locks.withJobLock(`retention:${policy.project}`, lockTtlMs, (lost) =>
          this.apply(id, policy, false, AbortSignal.any([lost, this.stopping.signal])),
        );
        totals = outcome.ran
          ? outcome.value
          : failedRun(`another retention run of project ${policy.project} is in progress`);
      }
    } catch (error) {
      this.deps.logger.error({ err: error, project: policy.project, run: id }, 'retention run failed');
      totals = failedRun(error instanceof Error ? error.message : String(error));
    } finally {
      clearInterval(heartbeat);
    }
    try {
      await this.deps.store.finishRun(id, totals);
      this.deps.logger.info(
        { project: policy.project, run: id, dryRun, ...totals },
        `retention run ${totals.status}: ${totals.deleted} ${dryRun ? 'to delete' : 'deleted'}, ${totals.retained} retained`,
      );
    } catch (error) {
      this.deps.logger.error({ err: error, project: policy.project, run: id }, 'could not record a retention run');
      return;
    }
    try {
      await this.deps.finished?.({ id, project: policy.project, ...origin, dryRun, totals });
    } catch (error) {
      this.deps.logger.error({ err: error, project: policy.project, run: id }, 'could not announce a retention run');
    }
  }

  private async apply(id: number, policy: RetentionPolicy, dryRun: boolean, signal: AbortSignal): Promise<RunTotals> {
    const { inventory, db } = this.deps;
    const now = Date.now();
    const immutable = await this.deps.immutability.tagTest(db, policy.project);
    let total = 0;
    let retained = 0;
    const going: Artifact[] = [];
    const parents = new Map<string, string[]>();
    for (const repository of await inventory.repositoryNames(policy.project)) {
      signal.throwIfAborted();
      const artifacts = await inventory.artifactsOf(repository);
      const verdict = evaluateRepository(repository, artifacts, policy.rules, now, immutable);
      if (!verdict) continue;
      total += artifacts.length;
      retained += verdict.retained.size;
      going.push(...verdict.deleted);
      for (const artifact of artifacts) {
        for (const child of artifact.childDigests) {
          const key = `${repository}@${child}`;
          parents.set(key, [...(parents.get(key) ?? []), `${repository}@${artifact.digest}`]);
        }
      }
    }
    const blobs = await inventory.blobDigestsOf(going.map((artifact) => artifact.id));
    if (dryRun) {
      await this.deps.store.addRunArtifacts(
        id,
        going.map((artifact) => item(artifact, 'would-delete', null)),
      );
      return {
        status: 'succeeded',
        total,
        retained,
        deleted: going.length,
        failed: 0,
        bytesFreed: await releasedBytes(db, policy.project, going, blobs),
        error: null,
      };
    }

    const deleted: Artifact[] = [];
    const failures: RunArtifact[] = [];
    const kept = new Set<string>();
    let stopped: string | undefined;
    for (const artifact of going) {
      if (signal.aborted) {
        stopped = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
        break;
      }
      const key = `${artifact.repository}@${artifact.digest}`;
      // A child stays while any index naming it could not be deleted.
      if ((parents.get(key) ?? []).some((parent) => kept.has(parent))) {
        kept.add(key);
        retained++;
        continue;
      }
      try {
        await runWithRequestContext(
          { requestId: `retention-${id}`, sourceAddress: undefined, userAgent: undefined, actor: retentionActor },
          () => this.deps.deleteManifest(artifact.repository, artifact.digest),
        );
        deleted.push(artifact);
      } catch (error) {
        // Deleted meanwhile by someone else: gone, as this run wanted.
        if (isRegistryError(error) && error.code === 'MANIFEST_UNKNOWN') continue;
        kept.add(key);
        failures.push(item(artifact, 'failed', error instanceof Error ? error.message : String(error)));
      }
    }
    await this.deps.store.addRunArtifacts(id, [
      ...deleted.map((artifact) => item(artifact, 'deleted', null)),
      ...failures,
    ]);
    const problems = [
      ...(stopped === undefined ? [] : [`stopped after ${deleted.length} of ${going.length} deletions: ${stopped}`]),
      ...(failures.length === 0
        ? []
        : [`${failures.length} of ${going.length} deletions failed; the first: ${failures[0]?.error ?? ''}`]),
    ];
    return {
      status: problems.length === 0 ? 'succeeded' : 'failed',
      total,
      retained: retained + failures.length,
      deleted: deleted.length,
      failed: failures.length,
      bytesFreed: await releasedBytes(db, policy.project, deleted, blobs),
      error: problems.length === 0 ? null : problems.join('; '),
    };
  }
}

const retentionActor = { name: 'retention', kind: 'system' };

function item(artifact: Artifact, outcome: RunArtifact['outcome'], error: string | null): RunArtifact {
  return {
    repository: artifact.repository,
    digest: artifact.digest,
    tags: artifact.tags,
    size: artifact.size,
    outcome,
    error,
  };
}

function failedRun(error: string): RunTotals {
  return { status: 'failed', total: 0, retained: 0, deleted: 0, failed: 0, bytesFreed: 0, error };
}
