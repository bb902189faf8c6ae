import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryLoginLimiter } from '../../src/auth/identities/login-limiter.ts';

const minute = 60_000;

function limiter(overrides: { attempts?: number; addressAttempts?: number; maxEntries?: number } = {}) {
  const clock = { now: 1_000_000 };
  const instance = new MemoryLoginLimiter({
    attempts: overrides.attempts ?? 3,
    windowMs: 10 * minute,
    durationMs: 5 * minute,
    addressAttempts: overrides.addressAttempts,
    maxEntries: overrides.maxEntries,
    now: () => clock.now,
  });
  return { clock, limiter: instance };
}

describe('login limiter', () => {
  test('locks an account after N failures within the window, for the duration, Retry-After decreasing', async () => {
    const { clock, limiter: l } = limiter();
    await l.recordFailure('alice', '192.0.2.1');
    await l.recordFailure('alice', '192.0.2.2');
    assert.equal(await l.retryAfter('alice', '192.0.2.3'), 0, 'two failures do not lock');
    await l.recordFailure('alice', '192.0.2.3');
    assert.equal(await l.retryAfter('alice', '198.51.100.9'), 300, 'the account is locked from any address');
    clock.now += 61_500;
    assert.equal(await l.retryAfter('alice', '198.51.100.9'), 239, 'rounded up to whole seconds');
    clock.now += 238_000;
    assert.equal(await l.retryAfter('alice', '198.51.100.9'), 1);
    clock.now += 500;
    assert.equal(await l.retryAfter('alice', '198.51.100.9'), 0, 'the lock expires');
    assert.equal(await l.retryAfter('bob', '192.0.2.1'), 0, 'other accounts are not affected');
  });

  test('failures older than the window do not count', async () => {
    const { clock, limiter: l } = limiter();
    await l.recordFailure('alice', 'a');
    await l.recordFailure('alice', 'b');
    clock.now += 10 * minute + 1;
    await l.recordFailure('alice', 'c');
    assert.equal(await l.retryAfter('alice', 'd'), 0);
    await l.recordFailure('alice', 'c');
    await l.recordFailure('alice', 'c');
    assert.equal(await l.retryAfter('alice', 'd'), 300);
  });

  test('a success clears the account count', async () => {
    const { limiter: l } = limiter();
    await l.recordFailure('alice', 'a');
    await l.recordFailure('alice', 'a');
    await l.recordSuccess('alice', 'a');
    await l.recordFailure('alice', 'a');
    await l.recordFailure('alice', 'a');
    assert.equal(await l.retryAfter('alice', 'z'), 0);
  });

  test('an address is locked separately, at four times the account limit by default', async () => {
    const { limiter: l } = limiter();
    // One office behind NAT: several people mistype, none reaches the account limit.
    for (let i = 0; i < 11; i++) await l.recordFailure(`user${i % 6}`, '203.0.113.7');
    assert.equal(await l.retryAfter('user9', '203.0.113.7'), 0, '11 failures < 12 = 3 × 4');
    await l.recordFailure('user7', '203.0.113.7');
    assert.equal(await l.retryAfter('somebody', '203.0.113.7'), 300, 'a guesser cycling accounts is stopped');
    assert.equal(await l.retryAfter('somebody', '203.0.113.8'), 0, 'the account itself is not locked');
  });

  test('a success does not clear the address count', async () => {
    const { limiter: l } = limiter({ addressAttempts: 3 });
    await l.recordFailure('victim1', 'x');
    await l.recordFailure('victim2', 'x');
    await l.recordSuccess('mine', 'x');
    await l.recordFailure('victim3', 'x');
    assert.equal(await l.retryAfter('mine', 'x'), 300);
  });

  test('memory stays bounded: the least recently seen entries are forgotten first', async () => {
    const { limiter: l } = limiter({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) await l.recordFailure(`user${i}`, `10.0.${Math.floor(i / 256)}.${i % 256}`);
    assert.ok(l.size <= 200, `remembered ${l.size}`);
  });

  test('entries that can no longer matter are dropped', async () => {
    const { clock, limiter: l } = limiter();
    await l.recordFailure('alice', 'a');
    clock.now += 11 * minute;
    await l.recordFailure('bob', 'b');
    assert.equal(l.size, 2, 'alice and address a are gone; bob and b remain');
  });
});
