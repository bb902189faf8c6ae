import type { Kysely } from 'kysely';
import type { ProjectTables } from '../../metadata/project-store.ts';
import type { Database } from '../../metadata/schema.ts';
import type { SecretBox } from '../policies/secret-box.ts';
import type { UpstreamSettings } from './upstream-settings.ts';

/** A proxy project's settings as stored: the password stays sealed until the cache needs it. */
export interface ProxyProjectRecord {
  project: string;
  url: string;
  username: string | undefined;
  hasPassword: boolean;
  ca: string | undefined;
  insecure: boolean;
  tagTtlMs: number;
  remoteNamespace: string | undefined;
  createdAt: number;
  updatedAt: number;
  updatedBy: string | undefined;
}

export interface ProxyProjectChanges {
  url: string;
  /** undefined keeps the stored credentials; null removes them. */
  credentials: { username: string; password: string } | null | undefined;
  ca: string | null;
  insecure: boolean;
  tagTtlMs: number;
  remoteNamespace: string | null;
}

type Row = Database['proxy_projects'] & { name: string };

/** Which projects are pull-through caches, and of what; passwords sealed with the SecretBox. */
export class ProxyProjectStore {
  private readonly db: Kysely<Database & ProjectTables>;

  constructor(
    db: Kysely<Database>,
    private readonly secrets: SecretBox,
  ) {
    this.db = db.withTables<ProjectTables>();
  }

  async find(project: string): Promise<ProxyProjectRecord | undefined> {
    const row = await this.rowOf(project);
    return row && toRecord(row);
  }

  /**
   * Whether the project exists and, for a proxy project, its upstream with the credentials opened
   * (SecretUnreadableError when they were sealed under another http.secret).
   */
  async lookup(project: string): Promise<{ upstream: UpstreamSettings | undefined } | undefined> {
    const row = await this.db
      .selectFrom('projects')
      .leftJoin('proxy_projects', 'proxy_projects.project_id', 'projects.id')
      .select([
        'projects.name',
        'proxy_projects.project_id',
        'proxy_projects.url',
        'proxy_projects.username',
        'proxy_projects.password',
        'proxy_projects.ca_certificate',
        'proxy_projects.insecure',
        'proxy_projects.tag_ttl_ms',
        'proxy_projects.remote_namespace',
      ])
      .where('projects.name', '=', project)
      .executeTakeFirst();
    if (!row) return undefined;
    if (row.project_id === null || row.url === null) return { upstream: undefined };
    return {
      upstream: {
        url: row.url,
        credentials:
          row.username !== null && row.password !== null
            ? { username: row.username, password: this.secrets.open(row.password) }
            : undefined,
        ca: row.ca_certificate ?? undefined,
        insecure: row.insecure === 1,
        tagTtlMs: Number(row.tag_ttl_ms),
        remoteNamespace: row.remote_namespace ?? undefined,
      },
    };
  }

  async list(): Promise<ProxyProjectRecord[]> {
    const rows = await this.db
      .selectFrom('proxy_projects')
      .innerJoin('projects', 'projects.id', 'proxy_projects.project_id')
      .selectAll('proxy_projects')
      .select('projects.name')
      .orderBy('projects.name')
      .execute();
    return rows.map(toRecord);
  }

  /** Makes the project (by id) a cache, or changes its settings. */
  async save(projectId: number, changes: ProxyProjectChanges, by: string): Promise<void> {
    const now = Date.now();
    const values = {
      url: changes.url,
      ca_certificate: changes.ca,
      insecure: changes.insecure ? 1 : 0,
      tag_ttl_ms: changes.tagTtlMs,
      remote_namespace: changes.remoteNamespace,
      updated_at: now,
      updated_by: by,
      ...(changes.credentials === undefined
        ? {}
        : changes.credentials === null
          ? { username: null, password: null }
          : { username: changes.credentials.username, password: this.secrets.seal(changes.credentials.password) }),
    };
    await this.db
      .insertInto('proxy_projects')
      .values({ project_id: projectId, created_at: now, username: null, password: null, ...values })
      .onConflict((conflict) => conflict.column('project_id').doUpdateSet(values))
      .execute();
  }

  async remove(projectId: number): Promise<boolean> {
    const result = await this.db.deleteFrom('proxy_projects').where('project_id', '=', projectId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  private rowOf(project: string): Promise<Row | undefined> {
    return this.db
      .selectFrom('proxy_projects')
      .innerJoin('projects', 'projects.id', 'proxy_projects.project_id')
      .selectAll('proxy_projects')
      .select('projects.name')
      .where('projects.name', '=', project)
      .executeTakeFirst();
  }
}

function toRecord(row: Row): ProxyProjectRecord {
  return {
    project: row.name,
    url: row.url,
    username: row.username ?? undefined,
    hasPassword: row.password !== null,
    ca: row.ca_certificate ?? undefined,
    insecure: row.insecure === 1,
    tagTtlMs: Number(row.tag_ttl_ms),
    remoteNamespace: row.remote_namespace ?? undefined,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    updatedBy: row.updated_by ?? undefined,
  };
}
