import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../observability/logger.ts';
import type { Descriptor } from '../../oci/manifest.ts';
import { CopyEngine } from '../copy-engine.ts';
import type { ImageSource } from '../image-transport.ts';
import { ArtifactSelector } from './artifact-filter.ts';
import { BandwidthLimiter } from './bandwidth-limiter.ts';
import type { ExecutionStore } from './execution-store.ts';
import { MeteredSource } from './metered-source.ts';
import { destinationRepository } from './namespace-rewrite.ts';
import type { ReplicationMetrics } from './replication-metrics.ts';
import type { Execution, ExecutionStatus, ReplicationPolicy, TaskOperation, TaskStatus } from './replication-model.ts';
import type { DestinationSide, SourceSide } from './replication-sides.ts';
import { TaskJournal } from './task-journal.ts';
import { isTransient, type TaskRetryOptions, withTaskRetry } from './task-retry.ts';

/** One artifact to copy or delete: a tag, or a manifest by digest (a referrer pushed on its own). */
interface WorkItem {
  operation: TaskOperation;
  sourceRepository: string;
  /** A tag, or a digest. */
  reference: string;
  destinationRepository: string;
  /** For a deletion: the digest that was deleted here. */
  digest: string | undefined;
  /** Set for tasks created with the execution (event-based ones). */
  taskId?: number;
}

export interface ExecutionRun {
  execution: Execution;
  policy: ReplicationPolicy;
  source: SourceSide;
  destination: DestinationSide;
  store: ExecutionStore;
  metrics: ReplicationMetrics;
  logger: Logger;
  retry: TaskRetryOptions;
  /** Aborted when the execution is stopped or its instance shuts down. */
  signal: AbortSignal;
}

export interface ExecutionOutcome {
  status: ExecutionStatus;
  text: string;
  counts: Record<TaskStatus, number>;
  bytes: number;
}

/** Why a signal aborted: the API asked for the stop, or the instance is going away. */
export class ExecutionStopped extends Error {
  constructor(readonly reason: 'stopped' | 'shutdown' | 'lock-lost') {
    super(`execution ${reason}`);
    this.name = 'ExecutionStopped';
  }
}

/**
 * Runs one execution of a policy: lists what the filters select on the source, a page of
 * repositories and tags at a time (never a whole tags list), and copies each artifact on one of
 * `concurrency` workers as the listing goes, each as a task with its own status, attempts, bytes
 * and error. Event-based executions and retries run the tasks they were created with instead.
 */
export async function runExecution(run: ExecutionRun): Promise<ExecutionOutcome> {
  const { execution, policy, store, signal } = run;
  const counts: Record<TaskStatus, number> = {
    pending: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    stopped: 0,
    skipped: 0,
  };
  let bytes = 0;
  const limiter = new BandwidthLimiter(policy.speed);
  const referrersSeen = new Map<string, Promise<Descriptor[]>>();
  const engine = new CopyEngine({ concurrency: policy.concurrency, referrers: true, blobAttempts: 2 });
  // Event-based executions and retries are created with their tasks; the others list the source.
  const created = execution.trigger === 'event_based' || (await store.hasTasks(execution.id));
  const items = created ? createdTasks(run) : enumerate(run);
  const iterator = items[Symbol.asyncIterator]();
  let listingError: unknown;

  const journal = new TaskJournal(store, execution.id);

  const processItem = async (item: WorkItem) => {
    const separator = item.reference.includes(':') ? '@' : ':';
    const resource = `${item.sourceRepository}${separator}${item.reference}`;
    const task = journal.start(
      {
        operation: item.operation,
        srcResource: resource,
        dstResource: `${item.destinationRepository}${separator}${item.reference}`,
        digest: item.digest,
        status: 'running',
      },
      item.taskId,
    );
    let taskBytes = 0;
    const countBytes = (count: number) => {
      taskBytes += count;
      bytes += count;
      run.metrics.bytesTransferred(policy.direction, count);
    };
    const meter = (source: ImageSource) => new MeteredSource(source, limiter, signal, countBytes, referrersSeen);
    let status: TaskStatus;
    let error: string | null = null;
    let digest: string | undefined;
    try {
      const result = await withTaskRetry(
        run.retry,
        signal,
        async (attempt) => {
          journal.update(task, { attempts: attempt });
          return item.operation === 'deletion' ? deleteArtifact(run, item) : copyArtifact(run, item, engine, meter);
        },
        (attempt, failure, delayMs) =>
          run.logger.warn(
            { execution: execution.id, attempt, delayMs, err: failure },
            `replication of ${resource} failed; retrying`,
          ),
      );
      status = result.status;
      digest = result.digest;
      if (result.note !== undefined) error = result.note;
    } catch (failure) {
      status = signal.aborted ? 'stopped' : 'failed';
      error = signal.aborted ? describeAbort(signal) : describe(failure);
      if (!signal.aborted) {
        run.logger.warn({ execution: execution.id, err: failure }, `replication of ${resource} failed`);
      }
    }
    counts[status]++;
    run.metrics.taskEnded(item.operation, status);
    journal.update(task, {
      status,
      bytes: taskBytes,
      error,
      endedAt: Date.now(),
      ...(digest === undefined ? {} : { digest }),
    });
  };

  const worker = async () => {
    for (;;) {
      if (signal.aborted || listingError !== undefined) return;
      let next: IteratorResult<WorkItem>;
      try {
        next = await iterator.next();
      } catch (error) {
        listingError ??= error;
        return;
      }
      if (next.done) return;
      await processItem(next.value);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, policy.concurrency) }, worker));
  await iterator.return?.(undefined);
  await journal.flush();

  const attempted = counts.succeeded + counts.failed + counts.skipped + counts.stopped;
  const summary = `${attempted} artifacts: ${counts.succeeded} replicated, ${counts.skipped} skipped, ${counts.failed} failed${counts.stopped > 0 ? `, ${counts.stopped} stopped` : ''}`;
  if (signal.aborted) {
    const reason = signal.reason instanceof ExecutionStopped ? signal.reason.reason : 'shutdown';
    return {
      status: reason === 'stopped' ? 'stopped' : 'failed',
      text: reason === 'stopped' ? `stopped: ${summary}` : `interrupted (${describeAbort(signal)}): ${summary}`,
      counts,
      bytes,
    };
  }
  if (listingError !== undefined && !signal.aborted) {
    return {
      status: 'failed',
      text: `listing ${run.source.description} failed: ${describe(listingError)}; ${summary}`,
      counts,
      bytes,
    };
  }
  return { status: counts.failed > 0 ? 'failed' : 'succeeded', text: summary, counts, bytes };
}

interface ItemResult {
  status: TaskStatus;
  digest: string | undefined;
  /** Why it was skipped. */
  note?: string;
}

async function copyArtifact(
  run: ExecutionRun,
  item: WorkItem,
  engine: CopyEngine,
  meter: (source: ImageSource) => MeteredSource,
): Promise<ItemResult> {
  const { policy, signal } = run;
  const tag = item.reference.includes(':') ? undefined : item.reference;
  if (!policy.override && tag !== undefined) {
    const existing = await run.destination.tagDigest(item.destinationRepository, tag, signal);
    if (existing !== undefined) {
      const wanted = await run.source.tagDigest(item.sourceRepository, tag, signal);
      if (wanted !== undefined && wanted !== existing) {
        return {
          status: 'skipped',
          digest: wanted,
          note: `the destination's tag names ${existing}, and override is off`,
        };
      }
    }
  }
  const result = await engine.copy({
    source: meter(run.source.source(item.sourceRepository)),
    reference: item.reference,
    destination: run.destination.destination(item.destinationRepository),
    destinationReference: tag,
  });
  return { status: 'succeeded', digest: result.digest };
}

/**
 * Deletes on the remote what was deleted here. A tag is deleted by deleting the manifest it names
 * there, and only while it still names the digest deleted here: the distribution API deletes
 * manifests, not tags, on most registries.
 */
async function deleteArtifact(run: ExecutionRun, item: WorkItem): Promise<ItemResult> {
  const { signal } = run;
  const digest = item.digest;
  if (digest === undefined) return { status: 'failed', digest, note: 'the deleted digest is not known' };
  if (!item.reference.includes(':')) {
    const remote = await run.destination.tagDigest(item.destinationRepository, item.reference, signal);
    if (remote === undefined) return { status: 'succeeded', digest, note: 'the remote has no such tag' };
    if (remote !== digest) {
      return { status: 'skipped', digest, note: `the remote tag names ${remote}, not the deleted ${digest}` };
    }
  }
  const deleted = await run.destination.deleteManifest(item.destinationRepository, digest, signal);
  return deleted
    ? { status: 'succeeded', digest }
    : { status: 'succeeded', digest, note: 'the remote had no such manifest' };
}

/** The tags the filters select, repository by repository, page by page. */
async function* enumerate(run: ExecutionRun): AsyncGenerator<WorkItem> {
  const { policy, source } = run;
  const selector = new ArtifactSelector(policy.filters);
  const literal = selector.literalRepository();
  // A name given literally is not looked for in the catalog: its tags list answers for it.
  const repositories: AsyncIterable<string> | Iterable<string> =
    literal !== undefined ? [literal] : resumable(run, (listing) => source.repositories(listing));
  for await (const repository of repositories) {
    if (!selector.acceptsRepository(repository)) continue;
    let target: string;
    try {
      target = destinationRepository(repository, policy.destNamespace, policy.destNamespaceReplaceCount);
    } catch (error) {
      await run.store.addTask(run.execution.id, {
        operation: 'copy',
        srcResource: repository,
        dstResource: '',
        status: 'failed',
      });
      run.logger.warn({ execution: run.execution.id, err: error }, `cannot name the destination of ${repository}`);
      continue;
    }
    for await (const tag of resumable(run, (s) => source.tags(repository, s))) {
      if (!selector.acceptsTag(tag)) continue;
      yield {
        operation: 'copy',
        sourceRepository: repository,
        reference: tag,
        destinationRepository: target,
        digest: undefined,
      };
    }
  }
}

/**
 * A listing that survives the source going away for a while: after a transient failure it is
 * listed again from the start, and the names already given out are skipped by count. Registries
 * list in a stable order (Distribution's tags are not sorted, but always come in the same order),
 * and counting needs no memory of the names, however many there are.
 */
async function* resumable(
  run: ExecutionRun,
  list: (signal: AbortSignal) => AsyncIterable<string>,
): AsyncGenerator<string> {
  let given = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      let position = 0;
      for await (const name of list(run.signal)) {
        if (position++ < given) continue;
        given++;
        yield name;
      }
      return;
    } catch (error) {
      if (run.signal.aborted || attempt >= run.retry.attempts || !isTransient(error)) throw error;
      const delay = Math.min(run.retry.maxDelayMs, run.retry.initialDelayMs * 2 ** (attempt - 1));
      run.logger.warn(
        { execution: run.execution.id, err: error, delayMs: delay },
        'listing the source failed; retrying',
      );
      await sleep(delay, undefined, { signal: run.signal });
    }
  }
}

/** The tasks an event-based execution was created with, a page at a time. */
async function* createdTasks(run: ExecutionRun): AsyncGenerator<WorkItem> {
  let after = 0;
  for (;;) {
    const page = await run.store.pendingTasks(run.execution.id, after, 100);
    for (const task of page) {
      after = task.id;
      const source = splitResource(task.srcResource);
      yield {
        operation: task.operation,
        sourceRepository: source.repository,
        reference: source.reference,
        destinationRepository: splitResource(task.dstResource).repository,
        digest: task.digest,
        taskId: task.id,
      };
    }
    if (page.length < 100) return;
  }
}

/** `repo:tag` or `repo@sha256:…` into its repository and reference. */
function splitResource(resource: string): { repository: string; reference: string } {
  const at = resource.indexOf('@');
  if (at >= 0) return { repository: resource.slice(0, at), reference: resource.slice(at + 1) };
  const colon = resource.lastIndexOf(':');
  return { repository: resource.slice(0, colon), reference: resource.slice(colon + 1) };
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, 2000);
}

function describeAbort(signal: AbortSignal): string {
  const reason = signal.reason;
  if (reason instanceof ExecutionStopped) {
    return reason.reason === 'stopped'
      ? 'the execution was stopped'
      : reason.reason === 'shutdown'
        ? 'the instance running it shut down'
        : 'the instance lost its lock on the execution';
  }
  return describe(reason);
}
