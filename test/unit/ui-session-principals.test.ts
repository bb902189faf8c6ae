import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StandingIdentity, StandingLookup } from '../../src/auth/identities/standing-identities.ts';
import type { Principal } from '../../src/auth/principal.ts';
import { SessionCookies } from '../../src/http/session/session-cookie.ts';
import { SessionPrincipals } from '../../src/http/session/session-principals.ts';

/** A directory that answers from a map and counts how often it was asked. */
function directory() {
  const accounts = new Map<string, StandingIdentity | 'unverifiable'>();
  let lookups = 0;
  const lookup: StandingLookup = async (source, name) => {
    lookups++;
    return accounts.get(`${source}:${name}`);
  };
  return { accounts, lookup, lookups: () => lookups };
}

const bob: Principal = { name: 'bob', source: 'local', groups: [], admin: true };

describe('UI session principals', () => {
  it('resolve a cookie to the account as it stands, asking once per cache window', async () => {
    const cookies = new SessionCookies('secret');
    const { accounts, lookup, lookups } = directory();
    let now = 1_000_000;
    const sessions = new SessionPrincipals(cookies, lookup, 3000, () => now);
    accounts.set('local:bob', { principal: bob, credential: 'password:1' });
    const claim = cookies.verify(await sessions.issue(bob));
    assert.ok(claim);
    const asked = lookups();
    for (let request = 0; request < 5; request++) assert.deepEqual(await sessions.resolve(claim), bob);
    assert.equal(lookups(), asked, 'answered from the cache');

    accounts.set('local:bob', { principal: { ...bob, admin: false }, credential: 'password:1' });
    assert.equal((await sessions.resolve(claim))?.admin, true, 'within the window');
    now += 3000;
    assert.equal((await sessions.resolve(claim))?.admin, false, 'demoted after the window');

    accounts.set('local:bob', { principal: bob, credential: 'password:2' });
    sessions.forget('bob');
    assert.equal(await sessions.resolve(claim), undefined, 'a new password ends the session');

    accounts.delete('local:bob');
    sessions.forget('bob');
    assert.equal(await sessions.resolve(claim), undefined, 'a removed account ends it');
    assert.equal(await sessions.issue(bob), undefined);
  });

  it('keep what an unverifiable source said at sign-in', async () => {
    const cookies = new SessionCookies('secret');
    const { accounts, lookup } = directory();
    const carol: Principal = { name: 'carol', source: 'ldap', groups: ['devs'], admin: false };
    accounts.set('ldap:carol', 'unverifiable');
    const sessions = new SessionPrincipals(cookies, lookup);
    const claim = cookies.verify(await sessions.issue(carol));
    assert.ok(claim);
    assert.deepEqual(await sessions.resolve(claim), carol);
    const { snapshot: _, ...withoutSnapshot } = claim;
    assert.equal(await sessions.resolve(withoutSnapshot), undefined);
  });

  it('do not remember a failed lookup', async () => {
    const cookies = new SessionCookies('secret');
    let failing = true;
    const sessions = new SessionPrincipals(cookies, async () => {
      if (failing) throw new Error('database down');
      return { principal: bob, credential: 'c' };
    });
    const claim = { name: 'bob', source: 'local' as const, credential: cookies.fingerprint('c'), issuedAt: 0 };
    await assert.rejects(sessions.resolve(claim), /database down/);
    failing = false;
    assert.deepEqual(await sessions.resolve(claim), bob);
  });
});
