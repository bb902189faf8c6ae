import type { FastifyInstance } from 'fastify';
import Fastify from 'fastify';
import { connectRedis } from './cache/redis-connection.ts';
import { version } from './cli/version.ts';
import { composeAuth } from './composition/auth.ts';
import { resolveHttpSecret } from './composition/http-secret.ts';
import { composeProxyCache } from './composition/proxy-cache.ts';
import { composeRegistryCore } from './composition/registry-core.ts';
import { composeReplication } from './composition/replication.ts';
import { describeStorage, openStorage } from './composition/storage.ts';
import type { Config } from './config/index.ts';
import { parseListenAddress } from './config/index.ts';
import { LocalJobLocks } from './coordination/job-lock.ts';
import { RedisJobLocks } from './coordination/redis-job-locks.ts';
import { AuditLog } from './events/audit/audit-log.ts';
import { scheduleAuditPurging } from './events/audit/audit-retention.ts';
import { AuditStore } from './events/audit/audit-store.ts';
import { scheduleUploadPurging } from './gc/upload-purger.ts';
import { auditRoutes } from './http/api/audit-routes.ts';
import { scanRoutes } from './http/api/scan-routes.ts';
import { signaturePolicyRoutes } from './http/api/signature-policy-routes.ts';
import { registerAuditTrail } from './http/audit-trail.ts';
import { registerMetricsRoute } from './http/observability-plugin.ts';
import { createHttpServer } from './http/server.ts';
import { SessionCookies } from './http/session/session-cookie.ts';
import { tlsEnabled } from './http/tls/tls-options.ts';
import { createTlsServerFactory } from './http/tls/tls-server.ts';
import { uiDirectory } from './http/ui/ui-directory.ts';
import { registerUi } from './http/ui/ui-plugin.ts';
import { UploadStateSigner } from './http/v2/upload-state.ts';
import { describeDatabase } from './metadata/open-database.ts';
import { ProjectStore } from './metadata/project-store.ts';
import { certificateExpiry } from './observability/certificate-expiry.ts';
import { storageHealthCheck } from './observability/health.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, instrumentStorage } from './observability/metrics.ts';

export interface RunningRegistry {
  /** The URL the registry answers on, e.g. http://127.0.0.1:5000 */
  url: string;
  logger: Logger;
  close(): Promise<void>;
}

/** The composition root: config → drivers → services → server. */
export async function startRegistry(config: Config, warnings: readonly string[] = []): Promise<RunningRegistry> {
  const logger = createLogger(config.log);
  for (const warning of warnings) logger.warn(warning);

  const metrics = createMetrics();
  const storage = instrumentStorage(await openStorage(config, logger), metrics);
  const httpSecret = await resolveHttpSecret(config, logger);
  const redis = config.redis ? await connectRedis(config.redis, logger) : undefined;
  const { metadata, registry, gc, lifecycle, events, signatures, scanning } = await composeRegistryCore(config, {
    storage,
    logger,
    metrics,
    redis,
    locks: () => (redis ? new RedisJobLocks(redis, logger) : new LocalJobLocks()),
    version,
    collectGarbage: true,
  });
  const policies = lifecycle.attach(registry);
  const proxyCache = await composeProxyCache(config, { registry, metadata, httpSecret, logger, metrics, version });
  const replication = composeReplication(config, {
    registry,
    metadata,
    httpSecret,
    locks: redis ? new RedisJobLocks(redis, logger) : new LocalJobLocks(),
    logger,
    metrics: metrics.registry,
    events: events.publisher,
  });

  const healthChecks = [
    ...(config.health.storagedriver.enabled
      ? [
          storageHealthCheck(storage, {
            intervalMs: config.health.storagedriver.interval,
            threshold: config.health.storagedriver.threshold,
          }),
        ]
      : []),
    { name: 'database', check: () => metadata.ping(), intervalMs: 10_000, threshold: 1 },
  ];

  const prometheus = config.http.debug.prometheus;
  const debugAddr = config.http.debug.addr;
  const auditStore = new AuditStore(metadata.db);
  const audit = config.audit.enabled
    ? new AuditLog(auditStore, logger, {
        onWritten: (count) => metrics.countAuditEntries('written', count),
        onDropped: (count) => metrics.countAuditEntries('dropped', count),
      })
    : undefined;
  const auth = await composeAuth(config, {
    logger,
    metadata,
    version,
    redis,
    httpSecret,
    apiRoutes: [
      ...auditRoutes({
        store: auditStore,
        flush: () => audit?.flush() ?? Promise.resolve(),
        projects: new ProjectStore(metadata.db),
      }),
      ...proxyCache.apiRoutes,
      ...events.apiRoutes,
      ...replication.apiRoutes,
      ...policies.apiRoutes,
      ...signaturePolicyRoutes({ projects: new ProjectStore(metadata.db), policies: signatures.policies }),
      ...scanRoutes({
        projects: new ProjectStore(metadata.db),
        metadata,
        reports: scanning.reports,
        policies: scanning.policies,
        vulnerabilities: scanning.vulnerabilities,
        queued: scanning.kick,
      }),
    ],
    projectContents: policies.projectContents,
  });
  const tls = tlsEnabled(config.http.tls) ? await createTlsServerFactory(config.http.tls, logger) : undefined;
  // The UI's sign-in cookie is a credential only where there is a UI and something to sign in to.
  const sessions = config.ui.enabled && auth.services.enabled ? new SessionCookies(httpSecret) : undefined;
  const { app, access } = createHttpServer({
    serverFactory: tls?.serverFactory,
    logger,
    metrics,
    registry,
    auth: auth.services,
    healthChecks,
    accessLog: !config.log.accesslog.disabled,
    headers: config.http.headers,
    externalURL: config.http.host,
    secret: httpSecret,
    trustedProxies: config.http.trustedproxies,
    metricsPath: prometheus.enabled && !debugAddr ? prometheus.path : undefined,
    proxy: proxyCache.cache,
    sessions,
  });

  auth.registerRoutes(app, access);
  if (config.ui.enabled) {
    await registerUi(app, {
      directory: uiDirectory,
      access,
      sessions,
      projects: config.auth.projects.enabled,
      deleteEnabled: config.storage.delete.enabled,
      logger,
    });
  }
  registerAuditTrail(app, {
    metrics,
    audit,
    recordPulls: config.audit.pulls,
    uploadState: new UploadStateSigner(httpSecret),
    metadata,
  });
  events.registerHooks(app);
  if (tls) metrics.reportTlsCertificateExpiry(certificateExpiry(() => tls.reloader.files.certificate));

  const listen = parseListenAddress(config.http.addr);
  await app.listen({ host: listen.host, port: listen.port });
  const url = urlOf(app, tls ? 'https' : 'http');
  events.start(Number(new URL(url).port) || (tls ? 443 : 80));
  replication.start();
  await lifecycle.start();
  const stopScanning = scanning.start(registry, logger);

  let debugApp: FastifyInstance | undefined;
  if (debugAddr) {
    debugApp = Fastify({ logger: false });
    if (prometheus.enabled) registerMetricsRoute(debugApp, metrics, prometheus.path);
    const debugListen = parseListenAddress(debugAddr, 'http.debug.addr');
    await debugApp.listen({ host: debugListen.host, port: debugListen.port });
    logger.info(`debug server listening on ${urlOf(debugApp, 'http')}`);
  }

  const purging = config.storage.maintenance.uploadpurging;
  const stopPurging = purging.enabled
    ? scheduleUploadPurging(
        storage,
        metadata,
        { ageMs: purging.age, intervalMs: purging.interval, dryRun: purging.dryrun },
        logger,
        redis ? new RedisJobLocks(redis, logger) : new LocalJobLocks(),
      )
    : () => {};
  const stopAuditPurging = scheduleAuditPurging(
    auditStore,
    { retentionMs: config.audit.retention, onPurged: (count) => metrics.countAuditEntries('purged', count) },
    logger,
    redis ? new RedisJobLocks(redis, logger) : new LocalJobLocks(),
  );

  logger.info(
    {
      storage: describeStorage(config),
      database: describeDatabase(config.database),
      readOnly: config.storage.maintenance.readonly.enabled,
      // bin/wharf.js runs the compiled build when it is current and the TypeScript sources otherwise.
      code: import.meta.url.endsWith('.js') ? 'compiled' : 'sources',
    },
    `listening on ${url}`,
  );

  return {
    url,
    logger,
    async close() {
      stopPurging();
      await stopScanning();
      await gc.stop();
      tls?.close();
      auth.close();
      stopAuditPurging();
      await closeGracefully(app);
      await debugApp?.close();
      await audit?.close();
      await replication.close();
      await events.close();
      await proxyCache.close();
      await lifecycle.close();
      await metadata.close();
      await redis?.close();
    },
  };
}

function urlOf(app: FastifyInstance, scheme: 'http' | 'https'): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
}

/** How long in-flight requests may take to finish once shutdown starts. */
const drainTimeoutMs = 10_000;

/**
 * Stops accepting connections and lets requests in flight finish. Fastify closes idle keep-alive
 * connections once, when close starts; one that turns idle afterwards would hold shutdown until its
 * keep-alive timeout, so idle ones are closed as they appear and everything is cut after the drain
 * timeout.
 */
async function closeGracefully(app: FastifyInstance): Promise<void> {
  const idle = setInterval(() => app.server.closeIdleConnections(), 50);
  const cutoff = setTimeout(() => app.server.closeAllConnections(), drainTimeoutMs);
  try {
    await app.close();
  } finally {
    clearInterval(idle);
    clearTimeout(cutoff);
  }
}
