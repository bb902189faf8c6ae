import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../observability/logger.ts';
import { CertificateReloader, logCertificate, type ReloadTiming } from './certificate-reloader.ts';
import { readTlsFiles, type TlsSettings, tlsServerOptions } from './tls-options.ts';

/** What Fastify passes a server factory: its request handler and its own options. */
export type ServerFactory = (
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  options: Record<string, unknown>,
) => HttpServer;

export interface TlsServerFactory {
  /** Give to `Fastify({ serverFactory })`: an HTTPS server whose certificate follows the files. */
  serverFactory: ServerFactory;
  reloader: CertificateReloader;
  /** Stops watching the files and listening for SIGHUP. */
  close(): void;
}

/**
 * Reads http.tls's files (throwing, naming the key, when they are unusable) and returns a server
 * factory for Fastify. A factory rather than Fastify's `https` option, so the reloader holds the
 * server from its creation and can swap the certificate on it without a restart.
 */
export async function createTlsServerFactory(
  settings: TlsSettings,
  logger: Logger,
  timing: Partial<ReloadTiming> = {},
): Promise<TlsServerFactory> {
  const files = await readTlsFiles(settings);
  const options = tlsServerOptions(settings, files);
  logCertificate(logger, files.certificate, 'TLS certificate loaded');
  if (files.clientCas.length > 0) logger.info({ clientcas: settings.clientcas }, 'TLS client certificates accepted');
  const reloader = new CertificateReloader(settings, files, logger, timing);
  reloader.start();

  const serverFactory: ServerFactory = (handler, fastifyOptions) => {
    const server = createServer(options, handler);
    applyFastifyTimeouts(server, fastifyOptions);
    server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
      logger.debug({ err: error, 'client.address': socket.remoteAddress }, 'TLS handshake failed');
    });
    reloader.attach(server);
    return server;
  };
  return { serverFactory, reloader, close: () => reloader.close() };
}

/** Fastify sets these on servers it creates itself, not on a factory's; the same values apply here. */
function applyFastifyTimeouts(server: HttpServer, options: Record<string, unknown>): void {
  const number = (key: string) => (typeof options[key] === 'number' ? options[key] : undefined);
  const keepAliveTimeout = number('keepAliveTimeout');
  const requestTimeout = number('requestTimeout');
  const connectionTimeout = number('connectionTimeout');
  const maxRequestsPerSocket = number('maxRequestsPerSocket');
  if (keepAliveTimeout !== undefined) server.keepAliveTimeout = keepAliveTimeout;
  if (requestTimeout !== undefined) server.requestTimeout = requestTimeout;
  if (connectionTimeout !== undefined) server.setTimeout(connectionTimeout);
  if (maxRequestsPerSocket !== undefined && maxRequestsPerSocket > 0)
    server.maxRequestsPerSocket = maxRequestsPerSocket;
}
