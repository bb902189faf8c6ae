import Fastify, { type FastifyInstance } from 'fastify';
import type { AuthServices } from '../auth/auth-services.ts';
import type { HealthCheck } from '../observability/health.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import type { PullThroughCache } from '../replication/proxy/pull-through-cache.ts';
import { AccessControl } from './auth/access-control.ts';
import { registerErrorHandler } from './error-handler.ts';
import { proxyTrust, registerForwardedHeader } from './forwarded.ts';
import { registerHealthRoutes } from './health-routes.ts';
import { fastifyLoggingOptions, registerMetricsRoute, registerObservability } from './observability-plugin.ts';
import type { SessionCookies } from './session/session-cookie.ts';
import { registerTlsHeaders } from './tls/security-headers.ts';
import type { ServerFactory } from './tls/tls-server.ts';
import { registerDistributionRoutes } from './v2/distribution-routes.ts';
import { randomHttpSecret, UploadStateSigner } from './v2/upload-state.ts';

export interface HttpServerOptions {
  logger: Logger;
  metrics: Metrics;
  registry: RegistryService;
  auth: AuthServices;
  healthChecks: readonly HealthCheck[];
  accessLog: boolean;
  /** Headers added to every response (`http.headers`). */
  headers: Record<string, string[]>;
  /** `http.host`: external base URL for Location headers. */
  externalURL: string | undefined;
  /** Serve /metrics on this app (when no separate debug listener is configured). */
  metricsPath: string | undefined;
  /** An HTTPS server factory (http.tls); plain HTTP without it. */
  serverFactory?: ServerFactory;
  /** `http.secret`, shared by every instance; a per-process one when unset. */
  secret?: string;
  /** `http.trustedproxies`: whose forwarded headers are believed. */
  trustedProxies?: readonly string[];
  /** Pull-through caching (proxy projects, `proxy.*`); absent when nothing is proxied. */
  proxy?: PullThroughCache;
  /** The web UI's sign-in cookies, accepted as credentials when given (docs/ui.md). */
  sessions?: SessionCookies;
}

/** Registry manifests are JSON of up to 4 MiB; Fastify must not parse or buffer any body itself. */
export function createHttpServer(options: HttpServerOptions): { app: FastifyInstance; access: AccessControl } {
  const trust = proxyTrust(options.trustedProxies ?? []);
  const app = Fastify({
    ...fastifyLoggingOptions(options.logger),
    // Long blob uploads must not be cut off; slow-loris protection is the proxy's or requestTimeout's.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 75_000,
    bodyLimit: 4 * 1024 * 1024,
    return503OnClosing: true,
    trustProxy: trust ?? false,
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, maxParamLength: 1000 },
    ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
  });
  if (options.serverFactory) registerTlsHeaders(app);
  registerForwardedHeader(app, trust);
  app.removeAllContentTypeParsers();
  // Leave every body unread: handlers stream request.raw themselves (blobs) or read it bounded (manifests).
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  registerObservability(app, { logger: options.logger, metrics: options.metrics, accessLog: options.accessLog });
  registerErrorHandler(app);
  const headers = Object.entries(options.headers);
  if (headers.length > 0) {
    // Set when the request arrives, so replies written straight to the socket (blob downloads) carry them too.
    app.addHook('onRequest', async (_request, reply) => {
      for (const [name, values] of headers) reply.header(name, values.length === 1 ? values[0] : values);
    });
  }
  registerHealthRoutes(app, options.healthChecks);
  if (options.metricsPath) registerMetricsRoute(app, options.metrics, options.metricsPath);
  const access = new AccessControl(options.auth, options.sessions);
  registerDistributionRoutes(app, options.registry, access, {
    externalURL: options.externalURL,
    uploadState: new UploadStateSigner(options.secret ?? randomHttpSecret()),
    proxy: options.proxy,
  });
  return { app, access };
}
