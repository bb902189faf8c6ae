import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type NewSession, SessionCookies, sessionLifetimeSeconds } from '../../src/http/session/session-cookie.ts';

const alice: NewSession = { name: 'alice', source: 'ldap', snapshot: { groups: ['devs'], admin: false } };
const bob: NewSession = { name: 'bob', source: 'local', credential: 'password:1700000000000' };

describe('UI session cookies', () => {
  it('carry who signed in, from where and when, until they expire', () => {
    const cookies = new SessionCookies('secret-one');
    const now = Date.now();
    const value = cookies.sign(alice, now);
    assert.deepEqual(cookies.verify(value, now + 1000), {
      name: 'alice',
      source: 'ldap',
      snapshot: { groups: ['devs'], admin: false },
      issuedAt: now,
    });
    assert.equal(cookies.verify(value, now + sessionLifetimeSeconds * 1000), undefined);
  });

  it('bind a session to a keyed hash of the credential, never the credential itself', () => {
    const cookies = new SessionCookies('secret-one');
    const value = cookies.sign(bob);
    assert.ok(
      !Buffer.from(value.split('.')[0] ?? '', 'base64url')
        .toString('utf8')
        .includes('1700000000000'),
    );
    const claim = cookies.verify(value);
    assert.equal(claim?.credential, cookies.fingerprint('password:1700000000000'));
    assert.notEqual(claim?.credential, cookies.fingerprint('password:1700000000001'));
    assert.equal(claim?.snapshot, undefined, 'what a local user may do is not in the cookie');
    assert.notEqual(new SessionCookies('secret-two').fingerprint('password:1700000000000'), claim?.credential);
  });

  it('are refused when altered, malformed or signed with another secret', () => {
    const cookies = new SessionCookies('secret-one');
    const value = cookies.sign(alice);
    const [body, mac] = value.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...alice, snapshot: { groups: [], admin: true }, issuedAt: 0, expiresAt: Date.now() + 60_000 }),
      'utf8',
    ).toString('base64url');
    assert.equal(cookies.verify(`${forged}.${mac}`), undefined);
    assert.equal(cookies.verify(`${body}.`), undefined);
    assert.equal(cookies.verify(`${body}.${mac}.x`), undefined);
    assert.equal(cookies.verify(''), undefined);
    assert.equal(cookies.verify(undefined), undefined);
    assert.equal(new SessionCookies('secret-two').verify(value), undefined);
    assert.equal(new SessionCookies('secret-one').verify(value)?.name, 'alice', 'another instance with the secret');
  });
});
