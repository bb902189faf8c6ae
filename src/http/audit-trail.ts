import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { projectOf } from '../auth/projects/project-name.ts';
import { apiCallAction } from '../events/audit/api-call-action.ts';
import type { AuditEntry } from '../events/audit/audit-entry.ts';
import type { AuditLog } from '../events/audit/audit-log.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import type { Metrics } from '../observability/metrics.ts';
import { currentRequestContext, type RequestContext } from '../observability/request-context.ts';
import { bareMediaType } from '../oci/media-types.ts';
import { apiPrefix } from './api/management-context.ts';
import type { LoginAttempt } from './auth/login-attempt.ts';
import { matchRoute, type Route } from './v2/route-table.ts';
import { type UploadStateSigner, uploadStateParameter } from './v2/upload-state.ts';

export interface AuditTrailDependencies {
  metrics: Metrics;
  /** Where entries go; without it only the metrics are kept (`audit.enabled: false`). */
  audit: AuditLog | undefined;
  /** Record manifest pulls in the audit log (`audit.pulls`). */
  recordPulls: boolean;
  /** Reads when an upload started from its `_state`, for the upload duration. */
  uploadState: UploadStateSigner;
  /** Tells which request committed a blob, and its size. */
  metadata: MetadataStore;
}

/** Response fields worth keeping about a management API change; secrets are never among them. */
const detailFields = [
  'id',
  'name',
  'username',
  'member_kind',
  'member_name',
  'role',
  'public',
  'admin',
  'disabled',
  'project',
  'permissions',
  'expires_at',
] as const;

const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The audit log and the activity metrics, from each finished request: logins (made on any route),
 * manifest pushes, pulls and deletes, tag and blob deletes on /v2, and every state-changing call
 * of the management API, named from its route pattern so routes added later are covered too.
 * Entries are queued, never written on the request's path.
 */
export function registerAuditTrail(app: FastifyInstance, deps: AuditTrailDependencies): void {
  const committedSizes = new WeakMap<RequestContext, number>();
  const responseDetails = new WeakMap<FastifyRequest, Record<string, unknown>>();

  deps.metadata.addChangeListener(async (_trx, change) => {
    if (change.type !== 'blob.committed') return;
    const context = currentRequestContext();
    if (context) committedSizes.set(context, change.size);
  });

  // Keeps what the response said about a change (or why it failed) before it is sent.
  app.addHook('onSend', async (request, reply, payload) => {
    // Manifests and blobs are buffers and streams: only JSON answers are looked at.
    if (typeof payload !== 'string') return payload;
    if (reply.statusCode >= 400) {
      const error = firstError(payload);
      if (error) responseDetails.set(request, error);
    } else if (!readMethods.has(request.method) && request.url.startsWith(`${apiPrefix}/`)) {
      const detail = changeDetail(payload);
      if (detail) responseDetails.set(request, detail);
    }
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    const login = request.loginAttempt;
    if (login?.outcome === 'failure') deps.metrics.countAuthFailure(login.reason);
    if (login) deps.audit?.record(loginEntry(request, reply, login));
    // A request whose credentials failed got no further than the login.
    if (login?.outcome === 'failure') return;
    const path = pathOf(request.url);
    const detail = responseDetails.get(request);
    if (path.startsWith('/v2/')) {
      const route = distributionRoute(path);
      if (route) recordDistribution(request, reply, route, detail);
    } else if (path.startsWith(`${apiPrefix}/`) && !readMethods.has(request.method)) {
      deps.audit?.record(apiEntry(request, reply, path, detail));
    }
  });

  function recordDistribution(
    request: FastifyRequest,
    reply: FastifyReply,
    route: Route,
    detail: Record<string, unknown> | undefined,
  ): void {
    const { method } = request;
    const status = reply.statusCode;
    if ((route.kind === 'upload' && method === 'PUT') || (route.kind === 'uploads' && method === 'POST')) {
      if (status === 201) observeUpload(request, reply, route);
      return;
    }
    if (route.kind === 'manifest' && method === 'GET' && status === 200) {
      deps.metrics.countManifest('pull', bareMediaType(header(reply, 'content-type')));
    } else if (route.kind === 'manifest' && method === 'PUT' && status === 201) {
      deps.metrics.countManifest('push', bareMediaType(request.headers['content-type']));
    }
    if (!deps.audit) return;
    // An anonymous request answered 401 is a challenge the client answers with credentials, not a decision.
    if (status === 401 && request.headers.authorization === undefined) return;
    const entry = distributionEntry(request, reply, route, detail);
    if (!entry) return;
    deps.audit.record(entry, { deferred: entry.action === 'manifest.pull' });
  }

  function distributionEntry(
    request: FastifyRequest,
    reply: FastifyReply,
    route: Route,
    errorDetail: Record<string, unknown> | undefined,
  ): AuditEntry | undefined {
    const { method } = request;
    let action: string;
    let resourceType: string;
    let resource: string;
    const detail: Record<string, unknown> = { ...errorDetail };
    if (route.kind === 'manifest') {
      const byDigest = route.reference.includes(':');
      resource = `${route.name}${byDigest ? '@' : ':'}${route.reference}`;
      const digest = header(reply, 'docker-content-digest') ?? (byDigest ? route.reference : undefined);
      if (digest !== undefined) detail.digest = digest;
      if (!byDigest) detail.tag = route.reference;
      // A pull a policy refused (an unsigned image) is a security decision: recorded, HEAD too, even without audit.pulls.
      const refusedByPolicy = errorDetail?.error === 'PROJECTPOLICYVIOLATION';
      if (method === 'GET' || (method === 'HEAD' && refusedByPolicy)) {
        if (!deps.recordPulls && !refusedByPolicy) return undefined;
        [action, resourceType] = ['manifest.pull', 'manifest'];
        if (reply.statusCode === 200) detail.media_type = bareMediaType(header(reply, 'content-type'));
      } else if (method === 'PUT') {
        [action, resourceType] = ['manifest.push', 'manifest'];
        detail.media_type = bareMediaType(request.headers['content-type']);
      } else if (method === 'DELETE') {
        [action, resourceType] = byDigest ? ['manifest.delete', 'manifest'] : ['tag.delete', 'tag'];
      } else {
        return undefined;
      }
    } else if (route.kind === 'blob' && method === 'DELETE') {
      [action, resourceType, resource] = ['blob.delete', 'blob', `${route.name}@${route.digest}`];
      detail.digest = route.digest;
    } else {
      return undefined;
    }
    return {
      ...requestFacts(request, reply),
      action,
      resourceType,
      resource,
      project: projectOf(route.name),
      repository: route.name,
      route: `/v2/{name}/${route.kind === 'manifest' ? 'manifests/{reference}' : 'blobs/{digest}'}`,
      detail,
    };
  }

  function observeUpload(request: FastifyRequest, reply: FastifyReply, route: Route): void {
    const context = request.requestContext;
    const size = context && committedSizes.get(context);
    // A mount answers 201 too, but moves no bytes.
    if (size === undefined) return;
    let startedAt: number | undefined;
    if (route.kind === 'upload') {
      const token = new URL(request.url, 'http://localhost').searchParams.get(uploadStateParameter);
      startedAt = token === null ? undefined : deps.uploadState.open(token)?.startedAt;
    }
    const elapsedSeconds = reply.elapsedTime / 1000;
    const durationSeconds =
      startedAt === undefined ? elapsedSeconds : Math.max(elapsedSeconds, (Date.now() - startedAt) / 1000);
    deps.metrics.observeBlobUpload(size, durationSeconds);
  }
}

function loginEntry(request: FastifyRequest, reply: FastifyReply, login: LoginAttempt): AuditEntry {
  const facts = requestFacts(request, reply);
  const detail: Record<string, unknown> = { method: login.method };
  if (login.outcome === 'failure') detail.reason = login.reason;
  return {
    ...facts,
    actor:
      login.outcome === 'success'
        ? { name: login.username, kind: login.source }
        : { name: login.username, kind: 'anonymous' },
    action: 'login',
    resourceType: 'session',
    resource: login.username,
    // The login's own outcome: a request may log in fine and still be refused what it asked.
    outcome: login.outcome,
    route: routePattern(request),
    detail,
  };
}

function apiEntry(
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
  detail: Record<string, unknown> | undefined,
): AuditEntry {
  const pattern = routePattern(request) ?? path;
  const { action, resourceType } = apiCallAction(request.method, pattern.slice(apiPrefix.length));
  // What a POST created is where its Location points; anything else acts on its own path.
  const location = header(reply, 'location');
  const target = location?.startsWith(`${apiPrefix}/`) ? location : path;
  const resource = decodePath(target.slice(apiPrefix.length + 1));
  const entry: AuditEntry = { ...requestFacts(request, reply), action, resourceType, resource, route: pattern };
  const project = /^projects\/([^/]+)/.exec(resource)?.[1];
  if (project !== undefined) entry.project = project;
  const repository = repositoryOf(pattern, request.params);
  if (repository !== undefined) {
    entry.repository = repository;
    // A repository is named as /v2 names it, so one resource filter finds all that happened to it.
    if (resourceType === 'repository') entry.resource = repository;
  }
  if (detail !== undefined) entry.detail = detail;
  return entry;
}

/** `/projects/{name}/repositories/{repository}/…`: the repository's full name (`team/app/api`). */
function repositoryOf(pattern: string, params: unknown): string | undefined {
  if (!pattern.startsWith(`${apiPrefix}/projects/{name}/repositories/{repository}`)) return undefined;
  const { name, repository } = (params ?? {}) as Record<string, unknown>;
  if (typeof name !== 'string' || typeof repository !== 'string') return undefined;
  // Clients encode the slashes of a repository name once or (as Harbor's do) twice.
  return `${name}/${repository.includes('%') ? decodePath(repository) : repository}`;
}

/** Who, from where, when, and how it ended: what every entry of a request shares. */
function requestFacts(
  request: FastifyRequest,
  reply: FastifyReply,
): Pick<AuditEntry, 'time' | 'actor' | 'sourceAddress' | 'userAgent' | 'requestId' | 'outcome' | 'status' | 'method'> {
  const principal = request.principal;
  const facts: ReturnType<typeof requestFacts> = {
    // When the request arrived: its entries sort with the requests that came before and after it.
    time: Math.floor(Date.now() - reply.elapsedTime),
    actor: principal ? { name: principal.name, kind: principal.source } : { name: '', kind: 'anonymous' },
    requestId: request.requestId,
    outcome: reply.statusCode < 400 ? 'success' : 'failure',
    status: reply.statusCode,
    method: request.method,
  };
  if (request.ip !== undefined) facts.sourceAddress = request.ip;
  const userAgent = request.headers['user-agent'];
  if (userAgent !== undefined) facts.userAgent = userAgent;
  return facts;
}

/** The matched route in OpenAPI form (`/api/v1/projects/{name}`); undefined for an unmatched URL. */
function routePattern(request: FastifyRequest): string | undefined {
  const url = request.routeOptions.url;
  return url === undefined ? undefined : url.replace(/:(\w+)/g, '{$1}');
}

function distributionRoute(path: string): Route | undefined {
  try {
    return matchRoute(path);
  } catch {
    return undefined;
  }
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function header(reply: FastifyReply, name: string): string | undefined {
  const value = reply.getHeader(name);
  return typeof value === 'string' ? value : undefined;
}

/** The first error of an `{"errors":[…]}` body: its code and message. */
function firstError(payload: string): Record<string, unknown> | undefined {
  const body = parseObject(payload);
  const errors = body?.errors;
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  if (typeof first !== 'object' || first === null) return undefined;
  const { code, message } = first as Record<string, unknown>;
  return { error: code, message: typeof message === 'string' ? message.slice(0, 500) : undefined };
}

/** The identifying fields of a management API answer (the member added, the robot created), never its secret. */
function changeDetail(payload: string): Record<string, unknown> | undefined {
  const body = parseObject(payload);
  if (!body) return undefined;
  const detail: Record<string, unknown> = {};
  for (const field of detailFields) if (body[field] !== undefined) detail[field] = body[field];
  return Object.keys(detail).length > 0 ? detail : undefined;
}

function parseObject(payload: string): Record<string, unknown> | undefined {
  if (!payload.startsWith('{') || payload.length > 64 * 1024) return undefined;
  try {
    const parsed: unknown = JSON.parse(payload);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
