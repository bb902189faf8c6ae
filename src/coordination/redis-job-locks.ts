import { randomUUID } from 'node:crypto';
import { LuaScript } from '../cache/lua-script.ts';
import type { RedisConnection } from '../cache/redis-connection.ts';
import type { Logger } from '../observability/logger.ts';
import type { JobLockOptions, JobLockOutcome, JobLocks } from './job-lock.ts';

// Only the holder's token may extend or delete the lock: after an expiry, a late holder must not
// release the lock a successor took.
const renew = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`);

const release = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`);

/**
 * Job locks in Redis (SET NX PX with a random token), renewed at a third of their TTL while the job
 * runs. When Redis cannot be asked, the job does not run: a lock nobody can check is not held.
 */
export class RedisJobLocks implements JobLocks {
  constructor(
    private readonly redis: RedisConnection,
    private readonly logger: Logger,
  ) {}

  async withJobLock<T>(
    name: string,
    ttlMs: number,
    job: (signal: AbortSignal) => Promise<T>,
    options: JobLockOptions = {},
  ): Promise<JobLockOutcome<T>> {
    const key = `wharf:1:lock:${name}`;
    const token = randomUUID();
    // Redis takes whole milliseconds; a timer longer than 2^31-1 ms would fire at once.
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const renewEvery = Math.min(Math.max(Math.floor(ttl / 3), 1), 2 ** 31 - 1);
    try {
      if ((await this.redis.command('SET', key, token, 'NX', 'PX', ttl)) === null) return { ran: false };
    } catch (error) {
      this.redis.reportFailure('job lock', error);
      return { ran: false };
    }
    const lost = new AbortController();
    const renewal = setInterval(() => {
      this.redis.evaluate(renew, [key], [token, ttl]).then(
        (renewed) => {
          if (renewed === 0 && !lost.signal.aborted) {
            this.logger.warn({ lock: name }, 'job lock lost to expiry; stopping the job');
            lost.abort(new Error(`job lock ${name} lost`));
          }
        },
        // Unreachable now, maybe not for long: the lock stays valid until its TTL runs out.
        (error: unknown) => this.redis.reportFailure('job lock renewal', error),
      );
    }, renewEvery);
    renewal.unref();
    try {
      return { ran: true, value: await job(lost.signal) };
    } finally {
      clearInterval(renewal);
      if (options.release !== false) {
        await this.redis.evaluate(release, [key], [token]).catch((error: unknown) => {
          this.redis.reportFailure('job lock release', error);
        });
      }
    }
  }
}
