import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database, ReplicationPoliciesTable } from '../../metadata/schema.ts';
import type { ArtifactFilter, ReplicationPolicy, TriggerType } from './replication-model.ts';

type Row = Selectable<ReplicationPoliciesTable>;

export type PolicyFields = Omit<ReplicationPolicy, 'id' | 'createdAt' | 'updatedAt'>;

/** The replication_policies table. */
export class PolicyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async list(page: { offset: number; limit: number }): Promise<{ total: number; items: ReplicationPolicy[] }> {
    const query = this.db.selectFrom('replication_policies');
    const [count, rows] = await Promise.all([
      query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow(),
      query.selectAll().orderBy('id').offset(page.offset).limit(page.limit).execute(),
    ]);
    return { total: Number(count.count), items: rows.map(toPolicy) };
  }

  async find(id: number): Promise<ReplicationPolicy | undefined> {
    const row = await this.db.selectFrom('replication_policies').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toPolicy(row);
  }

  async findByName(name: string): Promise<ReplicationPolicy | undefined> {
    const row = await this.db
      .selectFrom('replication_policies')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toPolicy(row);
  }

  /** Enabled policies with the given trigger: what the scheduler and the push listener act on. */
  async enabledWithTrigger(trigger: TriggerType, executor: Kysely<Database> | Transaction<Database> = this.db) {
    const rows = await executor
      .selectFrom('replication_policies')
      .selectAll()
      .where('enabled', '=', 1)
      .where('trigger_type', '=', trigger)
      .orderBy('id')
      .execute();
    return rows.map(toPolicy);
  }

  async create(fields: PolicyFields): Promise<number> {
    const now = Date.now();
    const row = await this.db
      .insertInto('replication_policies')
      .values({ ...columns(fields), created_by: fields.createdBy ?? null, created_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async update(id: number, fields: PolicyFields): Promise<boolean> {
    const result = await this.db
      .updateTable('replication_policies')
      .set({ ...columns(fields), updated_at: Date.now() })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('replication_policies').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

function columns(fields: PolicyFields) {
  return {
    name: fields.name,
    description: fields.description,
    enabled: fields.enabled ? 1 : 0,
    src_registry_id: fields.direction === 'pull' ? fields.remoteId : null,
    dest_registry_id: fields.direction === 'push' ? fields.remoteId : null,
    filters: JSON.stringify(fields.filters),
    dest_namespace: fields.destNamespace ?? null,
    dest_namespace_replace_count: fields.destNamespaceReplaceCount,
    trigger_type: fields.trigger.type,
    cron: fields.trigger.cron ?? null,
    override: fields.override ? 1 : 0,
    deletion: fields.deletion ? 1 : 0,
    concurrency: fields.concurrency,
    speed: fields.speed,
  };
}

function toPolicy(row: Row): ReplicationPolicy {
  const pull = row.src_registry_id !== null;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    enabled: row.enabled === 1,
    direction: pull ? 'pull' : 'push',
    remoteId: (pull ? row.src_registry_id : row.dest_registry_id) ?? 0,
    filters: JSON.parse(row.filters) as ArtifactFilter[],
    destNamespace: row.dest_namespace ?? undefined,
    destNamespaceReplaceCount: row.dest_namespace_replace_count,
    trigger: { type: row.trigger_type as TriggerType, cron: row.cron ?? undefined },
    override: row.override === 1,
    deletion: row.deletion === 1,
    concurrency: row.concurrency,
    speed: Number(row.speed),
    createdBy: row.created_by ?? undefined,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
