import type { FastifyInstance } from 'fastify';
import Fastify from 'fastify';
import { version } from './cli/version.ts';
import { composeAuth } from './composition/auth.ts';
import type { Config } from './config/index.ts';
import { parseListenAddress } from './config/index.ts';
import { scheduleUploadPurging } from './gc/upload-purger.ts';
import { registerMetricsRoute } from './http/observability-plugin.ts';
import { createHttpServer } from './http/server.ts';
import { tlsEnabled } from './http/tls/tls-options.ts';
import { createTlsServerFactory } from './http/tls/tls-server.ts';
import { MetadataStore } from './metadata/metadata-store.ts';
import { openSqlite } from './metadata/open-sqlite.ts';
import { storageHealthCheck } from './observability/health.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createMetrics, instrumentStorage } from './observability/metrics.ts';
import { RegistryService } from './registry/registry-service.ts';
import { FilesystemDriver } from './storage/filesystem/filesystem-driver.ts';

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
  const filesystem = new FilesystemDriver(config.storage.filesystem.rootdirectory);
  await filesystem.init();
  const storage = instrumentStorage(filesystem, metrics);
  const metadata = new MetadataStore(await openSqlite(config.database.path));
  const registry = new RegistryService(storage, metadata, {
    deleteEnabled: config.storage.delete.enabled,
    readOnly: config.storage.maintenance.readonly.enabled,
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
  const auth = await composeAuth(config, { logger, metadata, version });
  const tls = tlsEnabled(config.http.tls) ? await createTlsServerFactory(config.http.tls, logger) : undefined;
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
    metricsPath: prometheus.enabled && !debugAddr ? prometheus.path : undefined,
  });

  auth.registerRoutes(app, access);

  const listen = parseListenAddress(config.http.addr);
  await app.listen({ host: listen.host, port: listen.port });
  const url = urlOf(app, tls ? 'https' : 'http');

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
      )
    : () => {};

  logger.info(
    {
      storage: config.storage.filesystem.rootdirectory,
      database: config.database.path,
      readOnly: config.storage.maintenance.readonly.enabled,
    },
    `listening on ${url}`,
  );

  return {
    url,
    logger,
    async close() {
      stopPurging();
      tls?.close();
      auth.close();
      await closeGracefully(app);
      await debugApp?.close();
      await metadata.close();
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
