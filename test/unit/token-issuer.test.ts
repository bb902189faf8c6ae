import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { TokenError } from '../../src/auth/auth-services.ts';
import { anonymous, type Principal } from '../../src/auth/principal.ts';
import { RefreshTokens } from '../../src/auth/token/refresh-tokens.ts';
import { loadSigningKey, type SigningKey } from '../../src/auth/token/signing-key.ts';
import { TokenIssuer } from '../../src/auth/token/token-issuer.ts';
import { JwtTokenVerifier } from '../../src/auth/token/token-verifier.ts';

const alice: Principal = { name: 'alice', source: 'htpasswd', groups: [], admin: false };
const access = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

describe('token issuer', () => {
  let directory: string;
  let key: SigningKey;
  let now = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
  const clock = () => now;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wharf-token-issuer-'));
    key = await loadSigningKey({ algorithm: 'ES256', directory });
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('signs the claims of Distribution token specification', async () => {
    const issuer = new TokenIssuer(key, { issuer: 'wharf-test', lifetimeMs: 5 * 60_000, now: clock });
    const issued = await issuer.issue(alice, access, { service: 'registry.example.com', clientId: 'docker' });
    const iat = Math.floor(now / 1000);
    assert.equal(issued.expiresIn, 300);
    assert.equal(issued.issuedAt.getTime(), iat * 1000);

    assert.deepEqual(decodeProtectedHeader(issued.token), { alg: 'ES256', typ: 'JWT', kid: key.keyId });
    const claims = decodeJwt(issued.token);
    assert.equal(claims.iss, 'wharf-test');
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'registry.example.com');
    assert.equal(claims.iat, iat);
    assert.equal(claims.nbf, iat);
    assert.equal(claims.exp, iat + 300);
    assert.match(String(claims.jti), /^[A-Za-z0-9_-]{22}$/);
    assert.equal(claims.client_id, 'docker');
    assert.deepEqual(claims.access, access);

    const again = await issuer.issue(alice, access, { service: 'registry.example.com' });
    assert.notEqual(decodeJwt(again.token).jti, claims.jti);
    assert.equal(decodeJwt(again.token).client_id, undefined);
  });

  it('names an anonymous caller with an empty subject', async () => {
    const issuer = new TokenIssuer(key, { issuer: 'wharf-test', lifetimeMs: 60_000, now: clock });
    const issued = await issuer.issue(anonymous, [], { service: 'registry' });
    const claims = decodeJwt(issued.token);
    assert.equal(claims.sub, '');
    assert.deepEqual(claims.access, []);
  });

  it('sends the configured certificate chain as x5c', async () => {
    const issuer = new TokenIssuer(key, { issuer: 'i', lifetimeMs: 60_000, certificateChain: ['AAAA', 'BBBB'] });
    const issued = await issuer.issue(alice, [], { service: 'registry' });
    assert.deepEqual(decodeProtectedHeader(issued.token).x5c, ['AAAA', 'BBBB']);
  });

  it('round-trips through its own verifier into a principal carrying the grants', async () => {
    const issuer = new TokenIssuer(key, { issuer: 'wharf-test', lifetimeMs: 60_000 });
    const verifier = JwtTokenVerifier.forIssuer(key, { issuer: 'wharf-test', service: 'registry' });
    const issued = await issuer.issue(alice, access, { service: 'registry' });
    assert.deepEqual(await verifier.verify(issued.token), {
      name: 'alice',
      source: 'token',
      groups: [],
      admin: false,
      grants: access,
    });
  });

  describe('refresh tokens', () => {
    const accounts = new Map<string, Principal>([['alice', alice]]);
    const revalidate = async (name: string) => accounts.get(name);

    it('are redeemed for the account as it is now, by the client they were given to', async () => {
      const refresh = new RefreshTokens(key, { issuer: 'wharf-test', lifetimeMs: 3_600_000, revalidate, now: clock });
      const token = await refresh.issue(alice, 'docker');
      assert.deepEqual(decodeProtectedHeader(token), { alg: 'ES256', typ: 'wharf-refresh+jwt', kid: key.keyId });
      assert.equal(decodeJwt(token).access, undefined);
      assert.deepEqual(await refresh.redeem(token, 'docker'), alice);
      await assert.rejects(refresh.redeem(token, 'containerd'), /another client_id/);
      await assert.rejects(refresh.redeem(token, undefined), /another client_id/);
    });

    it('stop working when the account is gone', async () => {
      const refresh = new RefreshTokens(key, { issuer: 'wharf-test', lifetimeMs: 3_600_000, revalidate, now: clock });
      const bob: Principal = { name: 'bob', source: 'local', groups: [], admin: false };
      const token = await refresh.issue(bob, undefined);
      await assert.rejects(refresh.redeem(token, undefined), (error: unknown) => {
        assert.ok(error instanceof TokenError);
        assert.match(error.message, /no longer exists/);
        return true;
      });
    });

    it('expire after their lifetime', async () => {
      const refresh = new RefreshTokens(key, { issuer: 'wharf-test', lifetimeMs: 3_600_000, revalidate, now: clock });
      const token = await refresh.issue(alice, 'docker');
      const issuedAt = now;
      try {
        now = issuedAt + 3_599_000;
        assert.equal((await refresh.redeem(token, 'docker')).name, 'alice');
        now = issuedAt + 3_601_000;
        await assert.rejects(refresh.redeem(token, 'docker'), /refresh token expired/);
      } finally {
        now = issuedAt;
      }
    });

    it('are never access tokens, and access tokens are never refresh tokens', async () => {
      const refresh = new RefreshTokens(key, { issuer: 'wharf-test', lifetimeMs: 3_600_000, revalidate });
      const issuer = new TokenIssuer(key, { issuer: 'wharf-test', lifetimeMs: 60_000 });
      const verifier = JwtTokenVerifier.forIssuer(key, { issuer: 'wharf-test', service: 'registry' });
      const refreshToken = await refresh.issue(alice, 'docker');
      await assert.rejects(verifier.verify(refreshToken), TokenError);
      const accessToken = await issuer.issue(alice, access, { service: 'registry', clientId: 'docker' });
      await assert.rejects(refresh.redeem(accessToken.token, 'docker'), /invalid refresh token/);
    });

    it('are not given to anonymous callers', async () => {
      const refresh = new RefreshTokens(key, { issuer: 'wharf-test', lifetimeMs: 3_600_000, revalidate });
      await assert.rejects(refresh.issue(anonymous, 'docker'), TokenError);
    });
  });
});
