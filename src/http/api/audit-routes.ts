import { z } from 'zod';
import type { Principal } from '../../auth/principal.ts';
import { type AuditFilter, auditOutcomes, auditRecordJson, parseRfc3339 } from '../../events/audit/audit-entry.ts';
import type { AuditStore } from '../../events/audit/audit-store.ts';
import type { ProjectStore } from '../../metadata/project-store.ts';
import { RegistryError } from '../../oci/errors.ts';
import { forbidden } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageHeaderDocs, pageQuerySchema } from './common-schemas.ts';
import { pageHeaders, pageWindow } from './paging.ts';
import { ProjectAccess } from './project-access.ts';
import { projectNameSchema, projectPathSchema } from './project-schemas.ts';

export interface AuditRoutesDependencies {
  store: AuditStore;
  /** Writes the entries still queued on this instance, so a caller sees its own latest actions. */
  flush?(): Promise<void>;
  projects: ProjectStore;
}

const tag = 'audit';

const timestampQuery = z
  .string()
  .transform((text, context) => {
    const time = parseRfc3339(text);
    if (time === undefined) {
      context.addIssue({ code: 'custom', message: 'expected an RFC 3339 timestamp such as 2025-01-31T09:30:00Z' });
      return z.NEVER;
    }
    return time;
  })
  .meta({ format: 'date-time', example: '2025-01-31T09:30:00Z' });

const filterFields = {
  from: timestampQuery.optional().describe('entries at or after this time (RFC 3339)'),
  to: timestampQuery.optional().describe('entries before this time (RFC 3339)'),
  actor: z.string().min(1).max(255).optional().describe('the user or robot name'),
  action: z
    .string()
    .min(1)
    .max(1000)
    .optional()
    .describe('an action such as manifest.push, or several separated by commas'),
  resource: z
    .string()
    .min(1)
    .max(1024)
    .optional()
    .describe('a resource exactly (team/app:1.0), or a repository for all of its entries'),
  outcome: z.enum(auditOutcomes).optional(),
};

const systemQuerySchema = pageQuerySchema.extend({
  ...filterFields,
  project: projectNameSchema.optional().describe('the project the entries concern'),
});
const projectQuerySchema = pageQuerySchema.extend(filterFields);

const auditEntrySchema = z.object({
  id: z.number().int(),
  time: z.string().meta({ format: 'date-time' }),
  actor: z.string().describe('user or robot name; the name tried, for a failed login; "" for anonymous'),
  actor_kind: z.string().describe('local, robot, htpasswd, ldap, oidc, certificate, token, anonymous or system'),
  source_address: z.string().nullable(),
  user_agent: z.string().nullable(),
  request_id: z.string().nullable(),
  action: z.string().meta({ example: 'manifest.push' }),
  resource_type: z.string().meta({ example: 'manifest' }),
  resource: z.string().meta({ example: 'team/app:1.0' }),
  project: z.string().nullable(),
  repository: z.string().nullable(),
  outcome: z.enum(auditOutcomes),
  status: z.number().int().nullable().describe('the HTTP status answered'),
  method: z.string().nullable(),
  route: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
});

type FilterQuery = { from?: number; to?: number; actor?: string; action?: string; resource?: string } & {
  outcome?: AuditFilter['outcome'];
};

/**
 * The audit log: all of it for system administrators, a project's part for its project admins.
 * Newest entries first, in pages, with the same headers as every other list of this API.
 */
export function auditRoutes(deps: AuditRoutesDependencies): ApiRoute[] {
  const access = new ProjectAccess(deps.projects, (message) => new RegistryError('UNAUTHORIZED', message));

  async function listPage(
    request: Parameters<typeof pageHeaders>[0],
    query: z.output<typeof pageQuerySchema>,
    filter: AuditFilter,
  ) {
    await deps.flush?.();
    const { total, records } = await deps.store.page(filter, pageWindow(query));
    return { status: 200, body: records.map(auditRecordJson), headers: pageHeaders(request, query, total) };
  }

  return [
    defineRoute({
      method: 'GET',
      path: '/audit-logs',
      operationId: 'listAuditLogs',
      summary: 'Audit log entries, newest first (system administrators)',
      tag,
      anonymous: false,
      query: systemQuerySchema,
      responses: [
        { status: 200, description: 'a page of entries', schema: z.array(auditEntrySchema), headers: pageHeaderDocs },
        { status: 403, description: 'the caller is not a system administrator' },
      ],
      async handler({ request, principal, query }) {
        if (!principal.admin) throw forbidden('only system administrators may read the audit log');
        return listPage(request, query, { ...filterOf(query), project: query.project });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/audit-logs',
      operationId: 'listProjectAuditLogs',
      summary: "The project's audit log entries, newest first (project admins)",
      tag,
      anonymous: false,
      params: projectPathSchema,
      query: projectQuerySchema,
      responses: [
        { status: 200, description: 'a page of entries', schema: z.array(auditEntrySchema), headers: pageHeaderDocs },
        { status: 403, description: 'the caller is not a project admin of the project' },
      ],
      async handler({ request, principal, params, query }) {
        await requireProjectAdmin(access, principal, params.name);
        return listPage(request, query, { ...filterOf(query), project: params.name });
      },
    }),
  ];
}

async function requireProjectAdmin(access: ProjectAccess, principal: Principal, project: string): Promise<void> {
  const view = await access.view(principal, project);
  if (principal.admin || view.role === 'projectAdmin') return;
  throw forbidden(`only project admins may read the audit log of project ${project}`);
}

function filterOf(query: FilterQuery): AuditFilter {
  const filter: AuditFilter = {};
  if (query.from !== undefined) filter.from = query.from;
  if (query.to !== undefined) filter.to = query.to;
  if (query.actor !== undefined) filter.actor = query.actor;
  if (query.resource !== undefined) filter.resource = query.resource;
  if (query.outcome !== undefined) filter.outcome = query.outcome;
  if (query.action !== undefined) {
    filter.actions = query.action
      .split(',')
      .map((action) => action.trim())
      .filter((action) => action !== '');
  }
  return filter;
}
