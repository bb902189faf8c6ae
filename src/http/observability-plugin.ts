import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { bodyBytesSentBesideWrite } from '../observability/bytes-sent-beside-write.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { enterRequestContext, type RequestContext } from '../observability/request-context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** From a sane `X-Request-Id` header, else generated; echoed in the response and in every log line. */
    requestId: string;
    /** The repository the request is about, for the access log, when a handler knows it. */
    repositoryName?: string;
    /** The request context that events and the audit log read; `actor` is filled once authenticated. */
    requestContext?: RequestContext;
  }
  interface FastifyContextConfig {
    /** The route's `handler` metric label (`blob`, `manifest`, ...); the URL pattern when absent. */
    handler?: string;
    /** Logs the route's access lines at debug level (probes, scrapes). */
    quiet?: boolean;
  }
}

export interface ObservabilityDeps {
  logger: Logger;
  metrics: Metrics;
  /** One `response completed` line per request (Distribution's `log.accesslog.disabled`, inverted). */
  accessLog: boolean;
}

const requestIdGrammar = /^[A-Za-z0-9._-]{1,128}$/;
const assignedRequestIds = new WeakMap<IncomingMessage, string>();

/**
 * The request's id: the client's `X-Request-Id` when it is a plain token (so ids from a proxy in
 * front follow the request through), a random UUID otherwise. Stable per request, so it doubles as
 * Fastify's `genReqId` and `request.id`, the `request.log` bindings and the access log agree.
 */
export function requestIdFor(raw: IncomingMessage): string {
  let id = assignedRequestIds.get(raw);
  if (id === undefined) {
    const header = raw.headers['x-request-id'];
    id = typeof header === 'string' && requestIdGrammar.test(header) ? header : randomUUID();
    assignedRequestIds.set(raw, id);
  }
  return id;
}

/**
 * Fastify's own request lines ("incoming request", "request completed", "route not found",
 * premature stream closes) repeat what the access line says; errors and warnings still go through.
 */
class AccessLogController extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(): void {}
  override routeNotFound(): void {}
  override streamError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if ((error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    super.streamError(error, request, reply);
  }
}

/** Fastify constructor options that make the app log through `logger`, tagged with `request.id`. */
export function fastifyLoggingOptions(logger: Logger) {
  return {
    // As Fastify's base logger type, so the app stays a plain FastifyInstance for every route module.
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: requestIdFor,
    logController: new AccessLogController({ requestIdLogLabel: 'request.id' }),
  };
}

interface RequestTracking {
  /** Moves the request to another `handler` label, in-flight gauge included. */
  relabel(handler: string): void;
  /** Ends the bookkeeping; runs once, on whichever of onResponse or the connection close comes first. */
  finish(completed: boolean): void;
}

const trackedRequests = new WeakMap<FastifyRequest, RequestTracking>();

/**
 * Names the endpoint a request hit when one route serves several (the `/v2/*` catch-all), for the
 * `handler` metrics label. Overrides the route's `config.handler`; call it once the endpoint is known.
 */
export function setHandlerLabel(request: FastifyRequest, handler: string): void {
  trackedRequests.get(request)?.relabel(handler);
}

/** Request ids, access log and HTTP metrics for every route of `app`, including 404s. */
export function registerObservability(app: FastifyInstance, deps: ObservabilityDeps): void {
  if (!app.hasRequestDecorator('requestId')) app.decorateRequest('requestId', '');
  if (!app.hasRequestDecorator('repositoryName')) app.decorateRequest('repositoryName', undefined);
  if (!app.hasRequestDecorator('requestContext')) app.decorateRequest('requestContext', undefined);

  app.addHook('onRequest', (request, reply, done) => {
    const requestId = requestIdFor(request.raw);
    request.requestId = requestId;
    reply.header('x-request-id', requestId);
    const userAgent = request.headers['user-agent'];
    request.requestContext = { requestId, sourceAddress: request.ip, userAgent, actor: undefined };
    enterRequestContext(request.requestContext);

    let handler = routeHandlerLabel(request);
    let endInFlight = deps.metrics.trackInFlight(handler);
    const written = countWrittenBytes(reply.raw);
    let finished = false;
    trackedRequests.set(request, {
      relabel(next) {
        if (finished || next === handler) return;
        endInFlight();
        handler = next;
        endInFlight = deps.metrics.trackInFlight(handler);
      },
      finish(completed) {
        if (finished) return;
        finished = true;
        endInFlight();
        record(
          request,
          reply,
          { handler, completed, written: written.bytes + bodyBytesSentBesideWrite(reply.raw) },
          deps,
        );
      },
    });
    // onResponse only fires on 'finish'; a client that hangs up mid-download closes without it.
    reply.raw.once('close', () => trackedRequests.get(request)?.finish(reply.raw.writableFinished));
    done();
  });

  app.addHook('onResponse', (request, _reply, done) => {
    trackedRequests.get(request)?.finish(true);
    done();
  });
}

interface Outcome {
  handler: string;
  /** False when the connection closed before the response was fully handed over. */
  completed: boolean;
  written: number;
}

function record(request: FastifyRequest, reply: FastifyReply, outcome: Outcome, deps: ObservabilityDeps): void {
  const { handler } = outcome;
  const status = reply.statusCode;
  const durationMs = reply.elapsedTime;
  const written = hasNoBody(request.method, status) ? 0 : outcome.written;
  deps.metrics.observeHttpRequest({
    method: request.method,
    handler,
    status,
    durationSeconds: durationMs / 1000,
    requestBytes: declaredLength(request.headers['content-length']),
    responseBytes: written,
  });
  if (!deps.accessLog) return;

  const line: Record<string, string | number> = {
    'request.id': request.requestId,
    'http.request.method': request.method,
    'http.request.uri': request.url,
    'http.request.host': request.host,
    'http.request.remoteaddr': request.ip,
    'http.response.status': status,
    'http.response.duration': Math.round(durationMs * 1000) / 1000,
    'http.response.written': written,
  };
  const userAgent = request.headers['user-agent'];
  if (userAgent !== undefined) line['http.request.useragent'] = userAgent;
  const contentType = reply.getHeader('content-type');
  if (typeof contentType === 'string') line['http.response.contenttype'] = contentType;
  const repository = repositoryOf(request);
  if (repository !== undefined) line['vars.name'] = repository;

  const message = outcome.completed ? 'response completed' : 'response aborted';
  if (request.routeOptions.config.quiet === true) deps.logger.debug(line, message);
  else deps.logger.info(line, message);
}

function routeHandlerLabel(request: FastifyRequest): string {
  // Never the raw URL: one series per distinct path would grow without bound.
  return request.routeOptions.config.handler ?? request.routeOptions.url ?? 'unmatched';
}

function repositoryOf(request: FastifyRequest): string | undefined {
  if (request.repositoryName !== undefined) return request.repositoryName;
  const params = request.params;
  if (params !== null && typeof params === 'object' && 'name' in params && typeof params.name === 'string') {
    return params.name;
  }
  return undefined;
}

/** HEAD, 204 and 304 responses carry no body whatever was written into them. */
function hasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}

function declaredLength(header: string | undefined): number {
  if (header === undefined) return 0;
  const length = Number(header);
  return Number.isSafeInteger(length) && length >= 0 ? length : 0;
}

/**
 * Counts body bytes as they are handed to the response. Streamed blobs have no Content-Length to
 * read afterwards, so the count is the one figure that holds for every response.
 */
function countWrittenBytes(res: ServerResponse): { readonly bytes: number } {
  const counter = { bytes: 0 };
  const write = res.write;
  const end = res.end;
  // end(chunk) may call write(chunk) itself; stop counting once end has counted its chunk.
  let ending = false;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (!ending) counter.bytes += chunkLength(chunk, rest[0]);
    return Reflect.apply(write, res, [chunk, ...rest]);
  }) as ServerResponse['write'];
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (!ending && typeof chunk !== 'function') counter.bytes += chunkLength(chunk, rest[0]);
    ending = true;
    return Reflect.apply(end, res, [chunk, ...rest]);
  }) as ServerResponse['end'];
  return counter;
}

function chunkLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') {
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  }
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/** Serves the Prometheus text exposition of `metrics` at `path` (Distribution's `/metrics`). */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, path = '/metrics'): void {
  app.get(path, { config: { handler: 'metrics', quiet: true } }, async (_request, reply) => {
    const body = await metrics.render();
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(body);
  });
}
