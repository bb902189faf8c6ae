import { LuaScript } from '../../cache/lua-script.ts';
import type { RedisConnection } from '../../cache/redis-connection.ts';
import type { LoginLimiter } from '../auth-services.ts';
import { type LockoutSettings, MemoryLoginLimiter } from './login-limiter.ts';

/**
 * Counts a failure in the current window (which starts at its first failure) and locks the subject
 * when the count reaches the limit. KEYS: failures, lock; ARGV: limit, window ms, lock ms.
 */
const countFailure = new LuaScript(`
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if count >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
end
return count`);

type Subject = 'account' | 'address';

/**
 * Failed-login lockout shared by every instance through Redis: the same rules as
 * MemoryLoginLimiter (per account and per address, a success clears the account), counted in a
 * fixed window that opens at the first failure (INCR + PEXPIRE) rather than a sliding one, with the
 * lock a key that expires. While Redis is unreachable each instance counts in its own memory, so
 * guessing is still limited, per instance.
 */
export class RedisLoginLimiter implements LoginLimiter {
  private readonly fallback: MemoryLoginLimiter;
  private readonly addressAttempts: number;

  constructor(
    private readonly redis: RedisConnection,
    private readonly settings: LockoutSettings,
  ) {
    this.fallback = new MemoryLoginLimiter(settings);
    this.addressAttempts = settings.addressAttempts ?? settings.attempts * 4;
  }

  async retryAfter(account: string, address: string): Promise<number> {
    try {
      const remaining = await Promise.all([
        this.redis.command('PTTL', lockKey('account', account)),
        this.redis.command('PTTL', lockKey('address', address)),
      ]);
      const milliseconds = Math.max(0, ...remaining.map(Number).filter(Number.isFinite));
      return milliseconds > 0 ? Math.ceil(milliseconds / 1000) : 0;
    } catch (error) {
      this.redis.reportFailure('login lockout check', error);
      return this.fallback.retryAfter(account, address);
    }
  }

  async recordFailure(account: string, address: string): Promise<void> {
    // Redis takes whole milliseconds.
    const windowMs = Math.max(1, Math.ceil(this.settings.windowMs));
    const durationMs = Math.max(1, Math.ceil(this.settings.durationMs));
    try {
      await Promise.all([
        this.redis.evaluate(countFailure, keysOf('account', account), [this.settings.attempts, windowMs, durationMs]),
        this.redis.evaluate(countFailure, keysOf('address', address), [this.addressAttempts, windowMs, durationMs]),
      ]);
    } catch (error) {
      this.redis.reportFailure('login failure count', error);
      await this.fallback.recordFailure(account, address);
    }
  }

  async recordSuccess(account: string, address: string): Promise<void> {
    try {
      await this.redis.command('DEL', ...keysOf('account', account));
    } catch (error) {
      this.redis.reportFailure('login success record', error);
    }
    await this.fallback.recordSuccess(account, address);
  }
}

// The braces are a Redis Cluster hash tag: a subject's two keys live on the same node, as the script needs.
function keysOf(subject: Subject, name: string): [failures: string, lock: string] {
  return [`wharf:1:login:{${subject}:${name}}:failures`, lockKey(subject, name)];
}

function lockKey(subject: Subject, name: string): string {
  return `wharf:1:login:{${subject}:${name}}:lock`;
}
