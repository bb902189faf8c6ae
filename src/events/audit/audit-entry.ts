/** Whether the audited action took effect. */
export type AuditOutcome = 'success' | 'failure';

export const auditOutcomes: readonly AuditOutcome[] = ['success', 'failure'];

/**
 * One audited action: who (actor, from where, with what client), did what (action) to what
 * (resource), when, and whether it worked. Actions are `<resource type>.<verb>`
 * (`manifest.push`, `tag.delete`, `member.create`) or `login`; docs/audit.md lists them.
 */
export interface AuditEntry {
  /** Epoch milliseconds. */
  time: number;
  /** The user or robot name (the name tried, for a failed login; `''` for anonymous) and where the identity came from. */
  actor: { name: string; kind: string };
  sourceAddress?: string;
  userAgent?: string;
  requestId?: string;
  action: string;
  resourceType: string;
  /** The thing acted on: `team/app:1.0`, `team/app@sha256:…`, `projects/team/members/3`. */
  resource: string;
  project?: string;
  repository?: string;
  outcome: AuditOutcome;
  /** The HTTP status answered, for actions that came in over HTTP. */
  status?: number;
  method?: string;
  /** The route pattern that served it (`/api/v1/projects/{name}/members`) or the distribution endpoint. */
  route?: string;
  /** Small, non-secret facts: the digest pushed, the role given, the reason a login failed. */
  detail?: Record<string, unknown>;
}

/** An entry as stored, with the id the database gave it. */
export interface AuditRecord extends AuditEntry {
  id: number;
}

/** The JSON form of an entry: what the API answers and `wharf audit export` writes, one per line. */
export interface AuditRecordJson {
  id: number;
  time: string;
  actor: string;
  actor_kind: string;
  source_address: string | null;
  user_agent: string | null;
  request_id: string | null;
  action: string;
  resource_type: string;
  resource: string;
  project: string | null;
  repository: string | null;
  outcome: AuditOutcome;
  status: number | null;
  method: string | null;
  route: string | null;
  detail: Record<string, unknown> | null;
}

export function auditRecordJson(record: AuditRecord): AuditRecordJson {
  return {
    id: record.id,
    time: new Date(record.time).toISOString(),
    actor: record.actor.name,
    actor_kind: record.actor.kind,
    source_address: record.sourceAddress ?? null,
    user_agent: record.userAgent ?? null,
    request_id: record.requestId ?? null,
    action: record.action,
    resource_type: record.resourceType,
    resource: record.resource,
    project: record.project ?? null,
    repository: record.repository ?? null,
    outcome: record.outcome,
    status: record.status ?? null,
    method: record.method ?? null,
    route: record.route ?? null,
    detail: record.detail ?? null,
  };
}

/** Which entries a query or an export selects; every field narrows, absent fields do not. */
export interface AuditFilter {
  /** Entries at or after this time (epoch milliseconds). */
  from?: number;
  /** Entries before this time (epoch milliseconds). */
  to?: number;
  actor?: string;
  project?: string;
  /** Any of these actions. */
  actions?: readonly string[];
  /** The resource exactly, or every entry of this repository. */
  resource?: string;
  outcome?: AuditOutcome;
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 timestamp (`2025-01-31T09:30:00Z`, `2025-01-31T10:30:00+01:00`) as epoch milliseconds. */
export function parseRfc3339(text: string): number | undefined {
  if (!rfc3339.test(text)) return undefined;
  const time = Date.parse(text.replace(' ', 'T'));
  return Number.isFinite(time) ? time : undefined;
}
