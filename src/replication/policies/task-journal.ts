import type { ExecutionStore, NewTask, TaskChanges } from './execution-store.ts';
import type { TaskStatus } from './replication-model.ts';

/** How long a task's change may wait before it is written. */
const flushIntervalMs = 200;
/** Changes that make a flush start at once. */
const flushBatch = 200;

/** One task as the journal tracks it until its final state is written. */
export interface JournalEntry {
  id: number | undefined;
  task: NewTask & TaskChanges;
  dirty: boolean;
}

/**
 * Records an execution's tasks in batches: every change is kept in memory and written within
 * 200 ms, many tasks to a transaction, instead of two or three commits per artifact (each one a
 * synced write). A repository of thousands of tags is then replicated at the speed of its copies,
 * not of its bookkeeping. A task is visible (running) from the first flush after it started.
 */
export class TaskJournal {
  private readonly entries = new Set<JournalEntry>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly store: ExecutionStore,
    private readonly executionId: number,
  ) {}

  /** A task that starts now; `id` when it was created with the execution. */
  start(task: NewTask, id?: number): JournalEntry {
    const entry: JournalEntry = { id, task: { ...task, startedAt: Date.now() }, dirty: true };
    this.entries.add(entry);
    this.changed();
    return entry;
  }

  update(entry: JournalEntry, changes: TaskChanges & { status?: TaskStatus }): void {
    Object.assign(entry.task, changes);
    entry.dirty = true;
    this.changed();
  }

  /** Writes everything not written yet; rejects if a write failed. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.flushing.then(() => this.write());
    await this.flushing;
    if (this.failure !== undefined) throw this.failure;
  }

  private changed(): void {
    if (this.timer !== undefined) return;
    const dirty = [...this.entries].filter((entry) => entry.dirty).length;
    this.timer = setTimeout(() => void this.flush().catch(() => {}), dirty >= flushBatch ? 0 : flushIntervalMs);
  }

  private async write(): Promise<void> {
    const batch = [...this.entries].filter((entry) => entry.dirty);
    if (batch.length === 0) return;
    for (const entry of batch) entry.dirty = false;
    try {
      const ids = await this.store.writeTasks(
        this.executionId,
        batch.map((entry) => ({ id: entry.id, task: { ...entry.task } })),
      );
      batch.forEach((entry, index) => {
        entry.id = ids[index];
        if (!entry.dirty && isFinal(entry.task.status)) this.entries.delete(entry);
      });
    } catch (error) {
      for (const entry of batch) entry.dirty = true;
      this.failure = error;
    }
  }
}

function isFinal(status: TaskStatus): boolean {
  return status !== 'pending' && status !== 'running';
}
