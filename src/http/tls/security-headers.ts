import type { FastifyInstance } from 'fastify';

/** Sent on every response served over TLS; an `http.headers` entry of the same name wins. */
export const tlsSecurityHeaders: Readonly<Record<string, string>> = {
  'Strict-Transport-Security': 'max-age=63072000; includeSubDomains',
  'X-Content-Type-Options': 'nosniff',
};

/** Adds the TLS security headers to every response of `app` that does not already set them. */
export function registerTlsHeaders(app: FastifyInstance): void {
  const entries = Object.entries(tlsSecurityHeaders);
  // Set when the request arrives, so replies written straight to the socket (blob downloads) carry them too.
  app.addHook('onRequest', async (_request, reply) => {
    for (const [name, value] of entries) if (!reply.hasHeader(name)) reply.header(name, value);
  });
}
