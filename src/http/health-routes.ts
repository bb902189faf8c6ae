import type { FastifyInstance } from 'fastify';
import { createHealthMonitor, type HealthCheck, type HealthMonitor } from '../observability/health.ts';

/**
 * `/healthz` (liveness): 200 while the process serves requests.
 * `/readyz` (readiness): 200 while every check is healthy, 503 with each check's state otherwise.
 * The checks start running now and stop when the app closes.
 */
export function registerHealthRoutes(app: FastifyInstance, checks: readonly HealthCheck[]): HealthMonitor {
  const monitor = createHealthMonitor(checks);
  // Probes hit these every few seconds; their access lines go to debug level.
  const config = { handler: 'health', quiet: true };

  app.get('/healthz', { config }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });

  app.get('/readyz', { config }, async (_request, reply) => {
    const { ok, checks: states } = monitor.status();
    reply.header('cache-control', 'no-store');
    if (ok) return { status: 'ok', checks: states };
    return reply.code(503).send({ status: 'unavailable', checks: states });
  });

  void monitor.start();
  app.addHook('onClose', async () => monitor.stop());
  return monitor;
}
