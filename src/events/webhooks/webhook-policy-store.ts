import type { Kysely, Selectable, Transaction } from 'kysely';
import type { ProjectTables } from '../../metadata/project-store.ts';
import type { Database, WebhookPoliciesTable } from '../../metadata/schema.ts';
import type { WebhookFormat, WebhookPolicy, WebhookPolicyInput } from './webhook-policy.ts';

type PolicyDatabase = Database & ProjectTables;
type Executor = Kysely<PolicyDatabase> | Transaction<PolicyDatabase>;
type PolicyRow = Selectable<WebhookPoliciesTable> & { project: string };

const policyColumns = [
  'webhook_policies.id',
  'webhook_policies.project_id',
  'projects.name as project',
  'webhook_policies.name',
  'webhook_policies.description',
  'webhook_policies.url',
  'webhook_policies.format',
  'webhook_policies.event_types',
  'webhook_policies.auth_header',
  'webhook_policies.secret',
  'webhook_policies.skip_cert_verify',
  'webhook_policies.enabled',
  'webhook_policies.created_by',
  'webhook_policies.created_at',
  'webhook_policies.updated_at',
] as const;

/** Webhook policies of projects, in the metadata database. */
export class WebhookPolicyStore {
  private readonly db: Kysely<PolicyDatabase>;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<ProjectTables>();
  }

  async list(projectId: number, window: { offset: number; limit: number }): Promise<WebhookPolicy[]> {
    const rows = await selectPolicies(this.db)
      .where('webhook_policies.project_id', '=', projectId)
      .orderBy('webhook_policies.id')
      .offset(window.offset)
      .limit(window.limit)
      .execute();
    return rows.map(toPolicy);
  }

  async count(projectId: number): Promise<number> {
    const row = await this.db
      .selectFrom('webhook_policies')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('project_id', '=', projectId)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async find(projectId: number, id: number): Promise<WebhookPolicy | undefined> {
    const row = await selectPolicies(this.db)
      .where('webhook_policies.project_id', '=', projectId)
      .where('webhook_policies.id', '=', id)
      .executeTakeFirst();
    return row && toPolicy(row);
  }

  /** Policies by id, whatever their project: what the delivery workers need for claimed deliveries. */
  async findByIds(ids: readonly number[]): Promise<WebhookPolicy[]> {
    if (ids.length === 0) return [];
    const rows = await selectPolicies(this.db)
      .where('webhook_policies.id', 'in', [...ids])
      .execute();
    return rows.map(toPolicy);
  }

  /** The enabled policies of these projects, read inside the transaction that records events. */
  async enabledFor(trx: Transaction<Database>, projects: readonly string[]): Promise<WebhookPolicy[]> {
    if (projects.length === 0) return [];
    const rows = await selectPolicies(trx.withTables<ProjectTables>())
      .where('projects.name', 'in', [...projects])
      .where('webhook_policies.enabled', '=', 1)
      .execute();
    return rows.map(toPolicy);
  }

  /** The new policy; undefined when the project has one of that name already. */
  async create(projectId: number, input: WebhookPolicyInput, createdBy: string): Promise<WebhookPolicy | undefined> {
    const now = Date.now();
    const inserted = await this.db
      .insertInto('webhook_policies')
      .values({ project_id: projectId, ...columnsOf(input), created_by: createdBy, created_at: now, updated_at: now })
      .onConflict((conflict) => conflict.columns(['project_id', 'name']).doNothing())
      .returning('id')
      .executeTakeFirst();
    return inserted && this.find(projectId, inserted.id);
  }

  /** The changed policy; undefined when it does not exist, `conflict` when the new name is taken. */
  async update(
    projectId: number,
    id: number,
    input: WebhookPolicyInput,
  ): Promise<WebhookPolicy | undefined | 'conflict'> {
    const clash = await this.db
      .selectFrom('webhook_policies')
      .select('id')
      .where('project_id', '=', projectId)
      .where('name', '=', input.name)
      .where('id', '<>', id)
      .executeTakeFirst();
    if (clash) return 'conflict';
    const result = await this.db
      .updateTable('webhook_policies')
      .set({ ...columnsOf(input), updated_at: Date.now() })
      .where('project_id', '=', projectId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    return this.find(projectId, id);
  }

  /** Deletes the policy and, through the foreign key, its deliveries. */
  async delete(projectId: number, id: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('webhook_policies')
      .where('project_id', '=', projectId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

function selectPolicies(db: Executor) {
  return db
    .selectFrom('webhook_policies')
    .innerJoin('projects', 'projects.id', 'webhook_policies.project_id')
    .select(policyColumns);
}

function columnsOf(input: WebhookPolicyInput) {
  return {
    name: input.name,
    description: input.description,
    url: input.url,
    format: input.format,
    event_types: JSON.stringify(input.eventTypes),
    auth_header: input.authHeader ?? null,
    secret: input.secret ?? null,
    skip_cert_verify: input.skipCertVerify ? 1 : 0,
    enabled: input.enabled ? 1 : 0,
  };
}

function toPolicy(row: PolicyRow): WebhookPolicy {
  return {
    id: row.id,
    projectId: row.project_id,
    project: row.project,
    name: row.name,
    description: row.description,
    url: row.url,
    format: row.format as WebhookFormat,
    eventTypes: JSON.parse(row.event_types) as string[],
    authHeader: row.auth_header ?? undefined,
    secret: row.secret ?? undefined,
    skipCertVerify: row.skip_cert_verify === 1,
    enabled: row.enabled === 1,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
