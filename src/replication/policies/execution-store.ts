import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database, ReplicationExecutionsTable, ReplicationTasksTable } from '../../metadata/schema.ts';
import type {
  Execution,
  ExecutionStatus,
  ExecutionSummary,
  ExecutionTrigger,
  ReplicationTask,
  TaskOperation,
  TaskStatus,
} from './replication-model.ts';

type ExecutionRow = Selectable<ReplicationExecutionsTable>;
type TaskRow = Selectable<ReplicationTasksTable>;

export interface PageWindow {
  offset: number;
  limit: number;
}

export interface NewTask {
  operation: TaskOperation;
  srcResource: string;
  dstResource: string;
  digest?: string | undefined;
  status: TaskStatus;
}

export interface TaskChanges {
  status?: TaskStatus;
  attempts?: number;
  bytes?: number;
  digest?: string;
  error?: string | null;
  startedAt?: number;
  endedAt?: number;
}

export interface TriggerRecord {
  id: number;
  policyId: number;
  operation: TaskOperation;
  repository: string;
  reference: string;
  digest: string | undefined;
}

/** Executions, their tasks and the event queue of replication; every statement runs on SQLite and PostgreSQL. */
export class ExecutionStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * A new pending execution; undefined when `triggerKey` was taken already (another instance
   * fired the same schedule) or, with `onlyIfIdle`, when the policy has an execution not finished.
   */
  async create(
    policyId: number,
    trigger: ExecutionTrigger,
    options: { triggerKey?: string; onlyIfIdle?: boolean; statusText?: string } = {},
  ): Promise<number | undefined> {
    return this.db.transaction().execute(async (trx) => {
      if (options.onlyIfIdle) {
        const busy = await trx
          .selectFrom('replication_executions')
          .select('id')
          .where('policy_id', '=', policyId)
          .where('status', 'in', ['pending', 'running'])
          .executeTakeFirst();
        if (busy) return undefined;
      }
      const row = await trx
        .insertInto('replication_executions')
        .values({
          policy_id: policyId,
          status: 'pending',
          trigger,
          trigger_key: options.triggerKey ?? null,
          status_text: options.statusText ?? '',
          created_at: Date.now(),
        })
        .onConflict((conflict) => conflict.columns(['policy_id', 'trigger_key']).doNothing())
        .returning('id')
        .executeTakeFirst();
      return row?.id;
    });
  }

  /**
   * A new pending execution of the same policy that runs again the tasks of `executionId` that did
   * not succeed (failed, stopped, or never started). Undefined when there is none.
   */
  async createRetry(executionId: number, policyId: number): Promise<number | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const tasks = await trx
        .selectFrom('replication_tasks')
        .select(['operation', 'src_resource', 'dst_resource', 'digest'])
        .where('execution_id', '=', executionId)
        .where('status', 'in', ['failed', 'stopped', 'pending'])
        .orderBy('id')
        .execute();
      if (tasks.length === 0) return undefined;
      const row = await trx
        .insertInto('replication_executions')
        .values({
          policy_id: policyId,
          status: 'pending',
          trigger: 'manual',
          trigger_key: null,
          status_text: `retry of execution ${executionId}`,
          created_at: Date.now(),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.addTasks(
        row.id,
        tasks.map((task) => ({
          operation: task.operation as TaskOperation,
          srcResource: task.src_resource,
          dstResource: task.dst_resource,
          digest: task.digest ?? undefined,
          status: 'pending' as const,
        })),
        trx,
      );
      return row.id;
    });
  }

  /** Whether the execution was created with its tasks (event-based, or a retry) rather than listing them. */
  async hasTasks(executionId: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('replication_tasks')
      .select('id')
      .where('execution_id', '=', executionId)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async find(id: number): Promise<Execution | undefined> {
    const row = await this.db.selectFrom('replication_executions').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toExecution(row);
  }

  async list(
    filter: { policyId?: number; status?: ExecutionStatus; trigger?: ExecutionTrigger },
    page: PageWindow,
  ): Promise<{ total: number; items: Execution[] }> {
    let query = this.db.selectFrom('replication_executions');
    if (filter.policyId !== undefined) query = query.where('policy_id', '=', filter.policyId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.trigger !== undefined) query = query.where('trigger', '=', filter.trigger);
    const [count, rows] = await Promise.all([
      query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow(),
      query.selectAll().orderBy('id', 'desc').offset(page.offset).limit(page.limit).execute(),
    ]);
    return { total: Number(count.count), items: rows.map(toExecution) };
  }

  /** Task counts by status and bytes copied, per execution. */
  async summaries(ids: readonly number[]): Promise<Map<number, ExecutionSummary>> {
    const result = new Map<number, ExecutionSummary>();
    if (ids.length === 0) return result;
    const rows = await this.db
      .selectFrom('replication_tasks')
      .select((eb) => [
        'execution_id',
        'status',
        eb.fn.countAll<number>().as('count'),
        eb.fn.sum<number>('bytes').as('bytes'),
      ])
      .where('execution_id', 'in', [...ids])
      .groupBy(['execution_id', 'status'])
      .execute();
    for (const id of ids) result.set(id, emptySummary());
    for (const row of rows) {
      const summary = result.get(row.execution_id);
      if (!summary) continue;
      const count = Number(row.count);
      summary.total += count;
      summary[row.status as TaskStatus] += count;
      summary.bytes += Number(row.bytes ?? 0);
    }
    return result;
  }

  /** Deletes the policy's finished executions (and their tasks) beyond the newest `keep`. */
  async pruneHistory(policyId: number, keep: number): Promise<number> {
    const cutoff = await this.db
      .selectFrom('replication_executions')
      .select('id')
      .where('policy_id', '=', policyId)
      .orderBy('id', 'desc')
      .offset(keep)
      .limit(1)
      .executeTakeFirst();
    if (cutoff === undefined) return 0;
    const result = await this.db
      .deleteFrom('replication_executions')
      .where('policy_id', '=', policyId)
      .where('id', '<=', cutoff.id)
      .where('status', 'in', ['succeeded', 'failed', 'stopped'])
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Oldest first: the executions waiting for an instance. */
  async pendingIds(limit: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('replication_executions')
      .select('id')
      .where('status', '=', 'pending')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  /** Takes a pending execution for `instance`; false when another took it or it was stopped meanwhile. */
  async claim(id: number, instance: string): Promise<boolean> {
    const now = Date.now();
    const result = await this.db
      .updateTable('replication_executions')
      .set({ status: 'running', instance, started_at: now, heartbeat_at: now })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Records that `instance` still runs the execution; returns whether a stop was requested. */
  async heartbeat(id: number, instance: string): Promise<{ stopRequested: boolean }> {
    await this.db
      .updateTable('replication_executions')
      .set({ heartbeat_at: Date.now() })
      .where('id', '=', id)
      .where('instance', '=', instance)
      .where('status', '=', 'running')
      .execute();
    const row = await this.db
      .selectFrom('replication_executions')
      .select(['stop_requested', 'status'])
      .where('id', '=', id)
      .executeTakeFirst();
    return { stopRequested: row === undefined || row.stop_requested === 1 || row.status !== 'running' };
  }

  /**
   * Asks the execution to stop: a pending one stops at once, a running one at its instance's next
   * heartbeat. Returns the status it has after the request; undefined when there is no such execution.
   */
  async requestStop(id: number): Promise<ExecutionStatus | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const stoppedNow = await trx
        .updateTable('replication_executions')
        .set({ status: 'stopped', stop_requested: 1, ended_at: Date.now(), status_text: 'stopped before it started' })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (Number(stoppedNow.numUpdatedRows) > 0) {
        await stopUnfinishedTasks(trx, id, 'the execution was stopped');
        return 'stopped';
      }
      await trx
        .updateTable('replication_executions')
        .set({ stop_requested: 1 })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .execute();
      const row = await trx
        .selectFrom('replication_executions')
        .select('status')
        .where('id', '=', id)
        .executeTakeFirst();
      return row?.status as ExecutionStatus | undefined;
    });
  }

  async finish(id: number, status: ExecutionStatus, statusText: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('replication_executions')
        .set({ status, status_text: statusText, ended_at: Date.now() })
        .where('id', '=', id)
        .execute();
      await stopUnfinishedTasks(trx, id, status === 'stopped' ? 'the execution was stopped' : statusText);
    });
  }

  /**
   * Executions whose instance stopped sending heartbeats (it crashed or was killed): marked failed,
   * their unfinished tasks stopped. Returns how many were found.
   */
  async failAbandoned(heartbeatBefore: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('replication_executions')
      .select(['id', 'instance'])
      .where('status', '=', 'running')
      .where('heartbeat_at', '<', heartbeatBefore)
      .execute();
    const failed: number[] = [];
    for (const row of rows) {
      const done = await this.db.transaction().execute(async (trx) => {
        const result = await trx
          .updateTable('replication_executions')
          .set({
            status: 'failed',
            ended_at: Date.now(),
            status_text: `interrupted: instance ${row.instance ?? '?'} stopped running it; start it again to copy what is missing`,
          })
          .where('id', '=', row.id)
          .where('status', '=', 'running')
          .where('heartbeat_at', '<', heartbeatBefore)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) === 0) return false;
        await stopUnfinishedTasks(trx, row.id, 'interrupted: the instance running the execution stopped');
        return true;
      });
      if (done) failed.push(row.id);
    }
    return failed;
  }

  async addTask(executionId: number, task: NewTask): Promise<number> {
    const now = Date.now();
    const row = await this.db
      .insertInto('replication_tasks')
      .values({
        execution_id: executionId,
        operation: task.operation,
        src_resource: task.srcResource,
        dst_resource: task.dstResource,
        digest: task.digest ?? null,
        status: task.status,
        created_at: now,
        started_at: task.status === 'running' ? now : null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async addTasks(executionId: number, tasks: readonly NewTask[], trx?: Transaction<Database>): Promise<void> {
    if (tasks.length === 0) return;
    const now = Date.now();
    await (trx ?? this.db)
      .insertInto('replication_tasks')
      .values(
        tasks.map((task) => ({
          execution_id: executionId,
          operation: task.operation,
          src_resource: task.srcResource,
          dst_resource: task.dstResource,
          digest: task.digest ?? null,
          status: task.status,
          created_at: now,
        })),
      )
      .execute();
  }

  /**
   * Inserts the tasks without an id and updates the others, in one transaction; returns every
   * task's id, in order.
   */
  async writeTasks(
    executionId: number,
    tasks: readonly { id: number | undefined; task: NewTask & TaskChanges }[],
  ): Promise<number[]> {
    return this.db.transaction().execute(async (trx) => {
      const ids: number[] = [];
      for (const { id, task } of tasks) {
        const columns = taskColumns(task);
        if (id === undefined) {
          const row = await trx
            .insertInto('replication_tasks')
            .values({
              execution_id: executionId,
              operation: task.operation,
              src_resource: task.srcResource,
              dst_resource: task.dstResource,
              created_at: task.startedAt ?? Date.now(),
              ...columns,
              status: task.status,
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          ids.push(row.id);
        } else {
          await trx.updateTable('replication_tasks').set(columns).where('id', '=', id).execute();
          ids.push(id);
        }
      }
      return ids;
    });
  }

  async updateTask(id: number, changes: TaskChanges): Promise<void> {
    await this.db.updateTable('replication_tasks').set(taskColumns(changes)).where('id', '=', id).execute();
  }

  async findTask(executionId: number, taskId: number): Promise<ReplicationTask | undefined> {
    const row = await this.db
      .selectFrom('replication_tasks')
      .selectAll()
      .where('execution_id', '=', executionId)
      .where('id', '=', taskId)
      .executeTakeFirst();
    return row && toTask(row);
  }

  async listTasks(
    executionId: number,
    filter: { status?: TaskStatus },
    page: PageWindow,
  ): Promise<{ total: number; items: ReplicationTask[] }> {
    let query = this.db.selectFrom('replication_tasks').where('execution_id', '=', executionId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    const [count, rows] = await Promise.all([
      query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow(),
      query.selectAll().orderBy('id').offset(page.offset).limit(page.limit).execute(),
    ]);
    return { total: Number(count.count), items: rows.map(toTask) };
  }

  /** Pending tasks created with the execution (event-based ones), in order, a page at a time. */
  async pendingTasks(executionId: number, afterId: number, limit: number): Promise<ReplicationTask[]> {
    const rows = await this.db
      .selectFrom('replication_tasks')
      .selectAll()
      .where('execution_id', '=', executionId)
      .where('status', '=', 'pending')
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toTask);
  }

  // The event queue of event-based policies.

  /** Queues a push or delete inside the transaction of the change that caused it. */
  async enqueueTrigger(trx: Transaction<Database>, trigger: Omit<TriggerRecord, 'id'>): Promise<void> {
    await trx
      .insertInto('replication_triggers')
      .values({
        policy_id: trigger.policyId,
        operation: trigger.operation,
        repository: trigger.repository,
        reference: trigger.reference,
        digest: trigger.digest ?? null,
        created_at: Date.now(),
      })
      .execute();
  }

  /**
   * Turns queued triggers into executions: one execution per policy with a task per trigger, the
   * triggers deleted in the same transaction. The caller holds the dispatch lock, so no two
   * instances take the same triggers. Returns how many triggers were taken.
   */
  async drainTriggers(limit: number, describe: (trigger: TriggerRecord) => NewTask | undefined): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('replication_triggers').selectAll().orderBy('id').limit(limit).execute();
      if (rows.length === 0) return 0;
      const byPolicy = new Map<number, NewTask[]>();
      for (const row of rows) {
        const task = describe({
          id: row.id,
          policyId: row.policy_id,
          operation: row.operation as TaskOperation,
          repository: row.repository,
          reference: row.reference,
          digest: row.digest ?? undefined,
        });
        if (!task) continue;
        const tasks = byPolicy.get(row.policy_id) ?? [];
        tasks.push(task);
        byPolicy.set(row.policy_id, tasks);
      }
      await trx
        .deleteFrom('replication_triggers')
        .where(
          'id',
          'in',
          rows.map((row) => row.id),
        )
        .execute();
      const now = Date.now();
      for (const [policyId, tasks] of byPolicy) {
        const execution = await trx
          .insertInto('replication_executions')
          .values({ policy_id: policyId, status: 'pending', trigger: 'event_based', status_text: '', created_at: now })
          .returning('id')
          .executeTakeFirstOrThrow();
        await this.addTasks(execution.id, tasks, trx);
      }
      return rows.length;
    });
  }
}

async function stopUnfinishedTasks(trx: Transaction<Database>, executionId: number, reason: string): Promise<void> {
  const now = Date.now();
  await trx
    .updateTable('replication_tasks')
    .set({ status: 'stopped', error: reason, ended_at: now })
    .where('execution_id', '=', executionId)
    .where('status', 'in', ['pending', 'running'])
    .execute();
}

function taskColumns(changes: TaskChanges) {
  return {
    ...(changes.status === undefined ? {} : { status: changes.status }),
    ...(changes.attempts === undefined ? {} : { attempts: changes.attempts }),
    ...(changes.bytes === undefined ? {} : { bytes: changes.bytes }),
    ...(changes.digest === undefined ? {} : { digest: changes.digest }),
    ...(changes.error === undefined ? {} : { error: changes.error }),
    ...(changes.startedAt === undefined ? {} : { started_at: changes.startedAt }),
    ...(changes.endedAt === undefined ? {} : { ended_at: changes.endedAt }),
  };
}

export function emptySummary(): ExecutionSummary {
  return { total: 0, pending: 0, running: 0, succeeded: 0, failed: 0, stopped: 0, skipped: 0, bytes: 0 };
}

function toExecution(row: ExecutionRow): Execution {
  return {
    id: row.id,
    policyId: row.policy_id,
    status: row.status as ExecutionStatus,
    trigger: row.trigger as ExecutionTrigger,
    statusText: row.status_text,
    stopRequested: row.stop_requested === 1,
    instance: row.instance ?? undefined,
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? undefined : Number(row.started_at),
    endedAt: row.ended_at === null ? undefined : Number(row.ended_at),
  };
}

function toTask(row: TaskRow): ReplicationTask {
  return {
    id: row.id,
    executionId: row.execution_id,
    operation: row.operation as TaskOperation,
    srcResource: row.src_resource,
    dstResource: row.dst_resource,
    digest: row.digest ?? undefined,
    status: row.status as TaskStatus,
    attempts: row.attempts,
    bytes: Number(row.bytes),
    error: row.error ?? undefined,
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? undefined : Number(row.started_at),
    endedAt: row.ended_at === null ? undefined : Number(row.ended_at),
  };
}
