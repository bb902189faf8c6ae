import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { basic, basicOf, type Credentials, call, writeHtpasswd } from '../helpers/auth.ts';
import { assertError } from '../helpers/http.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Failed-login lockout with Redis: failures counted by every instance together, so guessing
 * through a load balancer gets no more tries than against one instance.
 */
const carol: Credentials = { username: 'carol', password: 'carol-secret-3' };
const alice: Credentials = { username: 'alice', password: 'alice-secret-1' };

describe('login lockout shared by two instances through Redis', () => {
  let work: string;
  let redis: RedisServer;
  let probe: Redis;
  let a: WharfProcess;
  let b: WharfProcess;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-redis-lockout-'));
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, [alice, carol]);
    redis = await startRedis();
    probe = redis.client();
    const configYaml = [
      'auth:',
      '  htpasswd:',
      `    path: ${htpasswd}`,
      '  lockout:',
      '    attempts: 4',
      '    duration: 10m',
    ].join('\n');
    const env = { REGISTRY_REDIS_ADDR: redis.address };
    a = await startWharf({ configYaml, env });
    b = await startWharf({ configYaml, env });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await probe?.quit();
    await redis?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('locks an account on both instances once the failures on both reach the limit: 429 with Retry-After', async () => {
    const guess = (instance: WharfProcess, attempt: number) =>
      call(instance.url, 'GET', '/v2/', basic(carol.username, `guess-${attempt}`));
    // Four failures in all, alternating: neither instance alone has seen more than two.
    for (const [index, instance] of [a, b, a, b].entries()) {
      assertError(await guess(instance, index + 1), 401, 'UNAUTHORIZED');
    }
    for (const instance of [a, b]) {
      const locked = await call(instance.url, 'GET', '/v2/', basicOf(carol));
      assertError(locked, 429, 'TOOMANYREQUESTS');
      const retryAfter = Number(locked.headers.get('retry-after'));
      assert.ok(retryAfter > 590 && retryAfter <= 600, `Retry-After ${retryAfter}`);
    }
    const ttl = await probe.pttl('wharf:1:login:{account:carol}:lock');
    assert.ok(ttl > 590_000 && ttl <= 600_000, `the lock expires with auth.lockout.duration (${ttl} ms)`);
    // The lock is carol's: alice, from the same address, still gets in on both.
    assert.equal((await call(a.url, 'GET', '/v2/', basicOf(alice))).status, 200);
    assert.equal((await call(b.url, 'GET', '/v2/', basicOf(alice))).status, 200);
  });
});
