import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { blobMediaType } from '../events/change-events.ts';
import { type EventAction, projectOf } from '../events/event.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { PullRecorder } from '../events/pull-recorder.ts';
import { rememberRequestDetails } from '../events/request-details.ts';
import type { Logger } from '../observability/logger.ts';
import { apiPrefix } from './api/management-context.ts';

export interface EventHookDependencies {
  publisher: EventPublisher;
  /** Where pull events go; undefined when notifications.pulls.enabled is off. */
  pulls: PullRecorder | undefined;
  /** Blob downloads are pull events too (notifications.pulls.blobs). */
  blobPulls: boolean;
  logger: Logger;
}

const manifestPath = /^\/v2\/.+\/manifests\/([^/]+)$/;
const blobPath = /^\/v2\/.+\/blobs\/(sha\d+:[a-f0-9]+)$/;
const projectPath = new RegExp(`^${apiPrefix}/projects/([^/?]+)$`);

/**
 * The events the HTTP layer sees first: pulls (a manifest GET answered 200, and blob GETs when
 * asked for), failed logins on any route, projects created and deleted through the management
 * API. Also gives events the request's host and method (Distribution's request record).
 */
export function registerEventHooks(app: FastifyInstance, deps: EventHookDependencies): void {
  const loginFailures = new LoginFailureBudget(deps.logger);
  app.addHook('onRequest', (request, reply, done) => {
    const context = request.requestContext;
    if (context !== undefined) {
      rememberRequestDetails(context, {
        host: request.host,
        method: request.method,
        baseUrl: `${request.protocol}://${request.host}`,
      });
    }
    // Blob downloads write to the socket themselves, past onResponse: the response's end is the one signal.
    if (deps.pulls !== undefined && request.method === 'GET' && request.url.startsWith('/v2/')) {
      reply.raw.once('finish', () => recordPull(request, reply, deps));
    }
    done();
  });

  app.addHook('onResponse', async (request, reply) => {
    const action = publishedAction(request, reply);
    if (action === undefined) return;
    const context = request.requestContext;
    const publish = (input: Parameters<EventPublisher['publish']>[0]) =>
      deps.publisher.publish({ ...input, context }).catch((error: unknown) => {
        deps.logger.warn({ err: error, action: input.action }, 'an event could not be recorded');
      });
    if (action.action === 'login.failed') {
      const login = request.loginAttempt;
      if (!loginFailures.take()) return;
      await publish({
        action: 'login.failed',
        actor: { name: login?.username ?? '', kind: 'anonymous', address: request.ip },
        details: { method: login?.method ?? 'basic', reason: login?.outcome === 'failure' ? login.reason : 'unknown' },
      });
      return;
    }
    await publish({ action: action.action, target: { project: action.project } });
  });
}

/** Failed logins published per second at most, per instance. */
const loginFailuresPerSecond = 20;

/**
 * Anyone can fail a login as often as they like (a bad token is not locked out): without a bound,
 * each attempt would cost a write and a delivery per subscriber. Beyond the bound, failures are
 * logged, not published.
 */
class LoginFailureBudget {
  private second = 0;
  private used = 0;

  constructor(private readonly logger: Logger) {}

  take(): boolean {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.second) {
      if (this.used > loginFailuresPerSecond) {
        this.logger.warn(
          { dropped: this.used - loginFailuresPerSecond },
          'failed logins beyond the event budget not published',
        );
      }
      this.second = second;
      this.used = 0;
    }
    this.used++;
    return this.used <= loginFailuresPerSecond;
  }
}

type PublishedAction = { action: 'login.failed' } | { action: 'project.created' | 'project.deleted'; project: string };

function publishedAction(request: FastifyRequest, reply: FastifyReply): PublishedAction | undefined {
  if (request.loginAttempt?.outcome === 'failure') return { action: 'login.failed' };
  const path = pathOf(request.url);
  if (request.method === 'POST' && reply.statusCode === 201 && path === `${apiPrefix}/projects`) {
    const location = reply.getHeader('location');
    const project = typeof location === 'string' ? projectPath.exec(location)?.[1] : undefined;
    return project === undefined ? undefined : { action: 'project.created', project: decodeURIComponent(project) };
  }
  if (request.method === 'DELETE' && reply.statusCode === 204) {
    const project = projectPath.exec(path)?.[1];
    return project === undefined ? undefined : { action: 'project.deleted', project: decodeURIComponent(project) };
  }
  return undefined;
}

function recordPull(request: FastifyRequest, reply: FastifyReply, deps: EventHookDependencies): void {
  const repository = request.repositoryName;
  if (repository === undefined || deps.pulls === undefined) return;
  const path = pathOf(request.url);
  const status = reply.raw.statusCode;
  const digest = header(reply, 'docker-content-digest');
  let action: EventAction;
  let tag: string | undefined;
  let mediaType: string | undefined;
  const manifest = manifestPath.exec(path);
  if (manifest !== null && status === 200) {
    action = 'manifest.pulled';
    const reference = decodeURIComponent(manifest[1] ?? '');
    tag = reference.includes(':') ? undefined : reference;
    mediaType = header(reply, 'content-type');
  } else if (deps.blobPulls && blobPath.test(path) && (status === 200 || status === 307)) {
    action = 'blob.pulled';
    mediaType = blobMediaType;
  } else {
    return;
  }
  if (digest === undefined) return;
  const context = request.requestContext;
  const length = Number(header(reply, 'content-length'));
  const kind = action === 'manifest.pulled' ? 'manifests' : 'blobs';
  deps.pulls.record(
    deps.publisher.factory.create({
      action,
      context,
      target: {
        project: projectOf(repository),
        repository,
        digest,
        tag,
        mediaType,
        size: status === 200 && Number.isSafeInteger(length) ? length : undefined,
        url: deps.publisher.factory.contentUrl(kind, repository, digest, context),
      },
    }),
  );
}

function header(reply: FastifyReply, name: string): string | undefined {
  const value = reply.raw.getHeader(name) ?? reply.getHeader(name);
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : String(value);
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
