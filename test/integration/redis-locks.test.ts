import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connectRedis, type RedisConnection } from '../../src/cache/redis-connection.ts';
import { type JobLocks, LocalJobLocks } from '../../src/coordination/job-lock.ts';
import { schedulePeriodicJob } from '../../src/coordination/periodic-job.ts';
import { RedisJobLocks } from '../../src/coordination/redis-job-locks.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { send, startUpload, uniqueRepo } from '../helpers/http.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Locks for scheduled jobs: with Redis, one holder among all instances, renewed while the job
 * runs, released only by its holder; periodic jobs run once per period whichever instance wins.
 */
const logger = createLogger({ level: 'silent', formatter: 'json', fields: {} });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Redis job locks', () => {
  let redis: RedisServer;
  let probe: Redis;
  const connections: RedisConnection[] = [];
  /** Each instance has a connection of its own. */
  const instance = async (): Promise<RedisJobLocks> => {
    const connection = await connectRedis(
      {
        addr: redis.address,
        addrs: [],
        db: 0,
        dialtimeout: 1_000,
        readtimeout: 1_000,
        writetimeout: 1_000,
        tls: { enabled: false, clientcas: [] },
      },
      logger,
    );
    connections.push(connection);
    while (!connection.ready) await sleep(10);
    return new RedisJobLocks(connection, logger);
  };

  before(async () => {
    redis = await startRedis();
    probe = redis.client();
  });

  after(async () => {
    for (const connection of connections) await connection.close();
    await probe?.quit();
    await redis?.stop();
  });

  it('lets exactly one of several instances run a job at a time', async () => {
    const locks = await Promise.all([instance(), instance(), instance()]);
    let running = 0;
    let most = 0;
    const job = async () => {
      running++;
      most = Math.max(most, running);
      await sleep(200);
      running--;
      return 'done';
    };
    const outcomes = await Promise.all(locks.map((lock) => lock.withJobLock('purge', 5_000, job)));
    assert.equal(outcomes.filter((outcome) => outcome.ran).length, 1);
    assert.deepEqual(
      outcomes.find((outcome) => outcome.ran),
      { ran: true, value: 'done' },
    );
    assert.equal(most, 1);
    assert.equal(await probe.exists('wharf:1:lock:purge'), 0, 'released when the job ended');
    const [first] = locks;
    assert.equal((await first?.withJobLock('purge', 5_000, job))?.ran, true, 'free again');
  });

  it('renews the lock while a job outlasts its TTL', async () => {
    const [holder, other] = await Promise.all([instance(), instance()]);
    const attempts: boolean[] = [];
    const outcome = await holder.withJobLock('long', 300, async (signal) => {
      for (let check = 0; check < 4; check++) {
        await sleep(250);
        attempts.push((await other.withJobLock('long', 300, async () => {})).ran);
      }
      return signal.aborted;
    });
    assert.deepEqual(outcome, { ran: true, value: false }, 'held throughout, never aborted');
    assert.deepEqual(attempts, [false, false, false, false], 'nobody else got it in a second, with a TTL of 300 ms');
  });

  it('aborts a job whose lock was lost, and never releases the lock a successor took', async () => {
    const [first, second, third] = await Promise.all([instance(), instance(), instance()]);
    let successorTook = false;
    const outcome = await first.withJobLock('fragile', 600, async (signal) => {
      // As if Redis restarted empty: the lock is gone and another instance takes it.
      await probe.del('wharf:1:lock:fragile');
      void second.withJobLock('fragile', 5_000, async () => {
        successorTook = true;
        await sleep(1_000);
      });
      await sleep(400);
      return signal.aborted;
    });
    assert.deepEqual(outcome, { ran: true, value: true }, 'the job was told it lost the lock');
    assert.ok(successorTook);
    assert.equal(await probe.exists('wharf:1:lock:fragile'), 1, "the successor's lock is still there");
    assert.equal((await third.withJobLock('fragile', 5_000, async () => {})).ran, false);
  });

  it('keeps a lock until it expires when asked not to release it', async () => {
    const [one, two] = await Promise.all([instance(), instance()]);
    assert.equal((await one.withJobLock('period', 400, async () => {}, { release: false })).ran, true);
    assert.equal((await two.withJobLock('period', 400, async () => {})).ran, false, 'the period is claimed');
    await sleep(500);
    assert.equal((await two.withJobLock('period', 400, async () => {})).ran, true, 'expired');
  });

  it('runs a periodic job once per period across instances', async () => {
    const locks = await Promise.all([instance(), instance(), instance()]);
    const runs = new Map<number, number[]>();
    const name = `periodic-${Date.now()}`;
    const stops = locks.map((lock, index) =>
      schedulePeriodicJob(
        {
          name,
          intervalMs: 200,
          run: async (_signal, period) => {
            runs.set(period, [...(runs.get(period) ?? []), index]);
          },
        },
        lock,
        logger,
      ),
    );
    await sleep(1_500);
    for (const stop of stops) stop();
    assert.ok(runs.size >= 5, `${runs.size} periods ran`);
    for (const [period, runners] of runs) assert.equal(runners.length, 1, `period ${period}: ${runners}`);
  });

  it('does not run a job when Redis cannot be asked', async () => {
    const locks = await instance();
    await redis.kill();
    let ran = false;
    const outcome = await locks.withJobLock('offline', 1_000, async () => {
      ran = true;
    });
    assert.deepEqual(outcome, { ran: false });
    assert.equal(ran, false);
    await redis.restart();
  });
});

describe('in-process job locks (no Redis)', () => {
  it('keeps a job from overlapping itself and frees the name when it ends', async () => {
    const locks: JobLocks = new LocalJobLocks();
    const slow = locks.withJobLock('purge', 60_000, () => sleep(100));
    assert.deepEqual(await locks.withJobLock('purge', 60_000, async () => 1), { ran: false });
    assert.deepEqual(await locks.withJobLock('other', 60_000, async () => 2), { ran: true, value: 2 });
    await slow;
    assert.deepEqual(await locks.withJobLock('purge', 60_000, async () => 3), { ran: true, value: 3 });
  });
});

describe('upload purging on two instances sharing Redis', () => {
  let redis: RedisServer;
  let dataDir: string;
  const instances: WharfProcess[] = [];

  before(async () => {
    redis = await startRedis();
    dataDir = await mkdtemp(join(tmpdir(), 'wharf-redis-purge-'));
    const env = {
      REGISTRY_REDIS_ADDR: redis.address,
      REGISTRY_DATABASE_PATH: join(dataDir, 'wharf.db'),
      REGISTRY_HTTP_SECRET: 'shared-by-both-instances',
      REGISTRY_LOG_LEVEL: 'debug',
      REGISTRY_LOG_FORMATTER: 'json',
      REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL: '1s',
      REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: '0s',
    };
    instances.push(await startWharf({ dataDir, env }));
    instances.push(await startWharf({ dataDir, env }));
  });

  after(async () => {
    for (const wharf of instances) await wharf.stop();
    await redis?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('purges each period on exactly one instance', async () => {
    const [a, b] = instances;
    assert.ok(a && b);
    const repo = uniqueRepo('purge/app');
    const uploads = [await startUpload(a.url, repo), await startUpload(b.url, repo), await startUpload(a.url, repo)];
    await sleep(3_500);

    // Periods that began at least half a second ago: both instances have logged what they did.
    const settled = Date.now() - 500;
    const periods = instances.map((wharf) => periodsOf(wharf.output(), settled));
    for (const [index, { ran, skipped }] of periods.entries()) {
      assert.ok(ran.length + skipped.length >= 2, `instance ${index} woke up for each period`);
    }
    const [ranOnA = [], ranOnB = []] = periods.map(({ ran }) => ran);
    assert.deepEqual(
      ranOnA.filter((period) => ranOnB.includes(period)),
      [],
      'no period ran on both instances',
    );
    const everyPeriod = new Set([...periods.flatMap(({ ran, skipped }) => [...ran, ...skipped])]);
    assert.equal(ranOnA.length + ranOnB.length, everyPeriod.size, 'every period ran somewhere');
    const purged = instances.flatMap((wharf) => purgeCounts(wharf.output()));
    assert.equal(
      purged.reduce((sum, count) => sum + count, 0),
      3,
      'each abandoned upload was purged once',
    );
    for (const upload of uploads) assert.equal((await send(upload)).status, 404, `${upload} purged`);
  });
});

interface LogLine {
  msg?: string;
  job?: string;
  period?: string;
  count?: number;
}

function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

function periodsOf(output: string, before: number): { ran: string[]; skipped: string[] } {
  const lines = logLines(output).filter(
    (line) => line.job === 'upload-purging' && line.period !== undefined && Date.parse(line.period) < before,
  );
  const periods = (message: string) => lines.filter((line) => line.msg === message).map((line) => line.period ?? '');
  return {
    ran: periods('running periodic job'),
    skipped: periods('periodic job skipped: claimed by another instance'),
  };
}

function purgeCounts(output: string): number[] {
  return logLines(output)
    .filter((line) => line.msg === 'purged abandoned uploads')
    .map((line) => line.count ?? 0);
}
