import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { registerHealthRoutes } from '../../src/http/health-routes.ts';
import { createHealthMonitor, type HealthCheck, storageHealthCheck } from '../../src/observability/health.ts';
import type { StorageDriver } from '../../src/storage/driver.ts';

/** A dependency whose availability the test switches. */
function switchableCheck(name: string, threshold: number, intervalMs = 60_000) {
  const control = { failing: false, runs: 0 };
  const check: HealthCheck = {
    name,
    threshold,
    intervalMs,
    async check() {
      control.runs += 1;
      if (control.failing) throw new Error(`${name} unreachable`);
    },
  };
  return { check, control };
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('health routes', () => {
  test('/readyz follows the threshold: below it ready, at it 503, after one success ready again', async () => {
    const storage = switchableCheck('storagedriver_filesystem', 3);
    const database = switchableCheck('database', 1);
    const app = Fastify();
    const monitor = registerHealthRoutes(app, [storage.check, database.check]);
    await app.ready();
    await waitFor(() => storage.control.runs === 1 && database.control.runs === 1);

    const ready = await app.inject({ url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), {
      status: 'ok',
      checks: {
        storagedriver_filesystem: { ok: true, consecutiveFailures: 0 },
        database: { ok: true, consecutiveFailures: 0 },
      },
    });

    storage.control.failing = true;
    await monitor.runChecks();
    await monitor.runChecks();
    const stillReady = await app.inject({ url: '/readyz' });
    assert.equal(stillReady.statusCode, 200, 'two failures stay under a threshold of three');
    assert.deepEqual(stillReady.json().checks.storagedriver_filesystem, {
      ok: true,
      consecutiveFailures: 2,
      error: 'storagedriver_filesystem unreachable',
    });

    await monitor.runChecks();
    const unavailable = await app.inject({ url: '/readyz' });
    assert.equal(unavailable.statusCode, 503);
    assert.equal(unavailable.headers['cache-control'], 'no-store');
    assert.deepEqual(unavailable.json(), {
      status: 'unavailable',
      checks: {
        storagedriver_filesystem: { ok: false, consecutiveFailures: 3, error: 'storagedriver_filesystem unreachable' },
        database: { ok: true, consecutiveFailures: 0 },
      },
    });

    const alive = await app.inject({ url: '/healthz' });
    assert.equal(alive.statusCode, 200, 'liveness ignores dependencies');
    assert.deepEqual(alive.json(), { status: 'ok' });

    storage.control.failing = false;
    await monitor.runChecks();
    const recovered = await app.inject({ url: '/readyz' });
    assert.equal(recovered.statusCode, 200);
    assert.deepEqual(recovered.json().checks.storagedriver_filesystem, { ok: true, consecutiveFailures: 0 });
    await app.close();
  });

  test('a threshold of one fails readiness on the first failure', async () => {
    const database = switchableCheck('database', 1);
    database.control.failing = true;
    const app = Fastify();
    registerHealthRoutes(app, [database.check]);
    await app.ready();
    await waitFor(() => database.control.runs === 1);
    const response = await app.inject({ url: '/readyz' });
    assert.equal(response.statusCode, 503);
    assert.equal(response.json().checks.database.consecutiveFailures, 1);
    await app.close();
  });

  test('with no checks the process is ready', async () => {
    const app = Fastify();
    registerHealthRoutes(app, []);
    const response = await app.inject({ url: '/readyz' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: 'ok', checks: {} });
    await app.close();
  });
});

describe('health monitor schedule', () => {
  test('runs at start, then every interval, and stop() ends the runs', async () => {
    const flaky = switchableCheck('flaky', 3, 10);
    flaky.control.failing = true;
    const monitor = createHealthMonitor([flaky.check]);
    await monitor.start();
    assert.equal(flaky.control.runs, 1, 'the first run happens at start');
    assert.equal(monitor.status().ok, true);

    await waitFor(() => !monitor.status().ok);
    assert.ok(flaky.control.runs >= 3);
    monitor.stop();
    const runsAtStop = flaky.control.runs;
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.ok(flaky.control.runs <= runsAtStop + 1, 'no runs are scheduled after stop');
  });

  test('a check that hangs fails after its timeout', async () => {
    const hanging: HealthCheck = {
      name: 'hanging',
      threshold: 1,
      intervalMs: 60_000,
      timeoutMs: 20,
      check: () => new Promise(() => {}),
    };
    const monitor = createHealthMonitor([hanging]);
    // The monitor's timers never hold a process open; a serving process has its socket for that.
    const keepAlive = setInterval(() => {}, 1000);
    await monitor.runChecks();
    clearInterval(keepAlive);
    assert.deepEqual(monitor.status(), {
      ok: false,
      checks: { hanging: { ok: false, consecutiveFailures: 1, error: 'hanging check timed out after 20 ms' } },
    });
  });

  test('storageHealthCheck pings the driver under a Distribution-style name', async () => {
    let pings = 0;
    const driver = {
      name: 's3',
      async ping() {
        pings += 1;
        throw new Error('bucket not reachable');
      },
    } as Pick<StorageDriver, 'name' | 'ping'> as StorageDriver;
    const check = storageHealthCheck(driver, { intervalMs: 10_000, threshold: 2 });
    assert.equal(check.name, 'storagedriver_s3');
    assert.equal(check.threshold, 2);
    const monitor = createHealthMonitor([check]);
    await monitor.runChecks();
    assert.equal(pings, 1);
    assert.deepEqual(monitor.status().checks.storagedriver_s3, {
      ok: true,
      consecutiveFailures: 1,
      error: 'bucket not reachable',
    });
  });
});
