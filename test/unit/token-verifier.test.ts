import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, SignJWT } from 'jose';
import { TokenError } from '../../src/auth/auth-services.ts';
import { jwkThumbprint, libtrustKeyId } from '../../src/auth/token/key-id.ts';
import { loadSigningKey, type SigningKey } from '../../src/auth/token/signing-key.ts';
import { JwtTokenVerifier } from '../../src/auth/token/token-verifier.ts';
import { TrustMaterialError } from '../../src/auth/token/trust-material.ts';
import type { AuthConfig } from '../../src/config/config.ts';

type TokenConfig = NonNullable<AuthConfig['token']>;

const issuer = 'wharf-test';
const service = 'registry.example.com';
const access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];

function seconds(): number {
  return Math.floor(Date.now() / 1000);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

interface Claims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  access?: unknown;
}

function validClaims(overrides: Claims = {}): Claims {
  const now = seconds();
  return { iss: issuer, sub: 'alice', aud: service, iat: now, nbf: now, exp: now + 300, access, ...overrides };
}

async function sign(
  claims: Claims,
  key: KeyObject | Uint8Array,
  header: { alg: string; kid?: string; typ?: string; x5c?: string[]; jwk?: object },
): Promise<string> {
  const payload: Record<string, unknown> = { ...claims };
  return new SignJWT(payload).setProtectedHeader({ typ: 'JWT', ...header }).sign(key);
}

function assertRejected(reason: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof TokenError, `expected a TokenError, got ${String(error)}`);
    assert.match(error.message, reason);
    return true;
  };
}

describe('token verifier: tokens of the built-in token service', () => {
  let directory: string;
  let key: SigningKey;
  let verifier: JwtTokenVerifier;
  const own = () => ({ alg: key.algorithm, kid: key.keyId });

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wharf-token-verifier-'));
    key = await loadSigningKey({ algorithm: 'ES256', directory });
    verifier = JwtTokenVerifier.forIssuer(key, { issuer, service });
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('accepts a valid token and turns its access claim into grants', async () => {
    const principal = await verifier.verify(await sign(validClaims(), key.privateKey, own()));
    assert.deepEqual(principal, { name: 'alice', source: 'token', groups: [], admin: false, grants: access });
  });

  it('accepts an audience list naming this service, and no access claim as no grants', async () => {
    const claims = validClaims({ aud: ['other', service] });
    delete claims.access;
    const principal = await verifier.verify(await sign(claims, key.privateKey, own()));
    assert.deepEqual(principal.grants, []);
  });

  it('rejects alg none', async () => {
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT', kid: key.keyId })}.${base64url(validClaims())}.`;
    await assert.rejects(verifier.verify(unsigned), assertRejected(/algorithm not accepted|malformed/));
  });

  it('rejects HS256 signed with the public key as the secret', async () => {
    const secret = new TextEncoder().encode(key.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const token = await sign(validClaims(), secret, { alg: 'HS256', kid: key.keyId });
    await assert.rejects(verifier.verify(token), assertRejected(/algorithm not accepted/));
  });

  it('rejects the wrong issuer and the wrong audience', async () => {
    await assert.rejects(
      verifier.verify(await sign(validClaims({ iss: 'someone-else' }), key.privateKey, own())),
      assertRejected(/untrusted issuer/),
    );
    await assert.rejects(
      verifier.verify(await sign(validClaims({ aud: 'other-registry' }), key.privateKey, own())),
      assertRejected(/another audience/),
    );
  });

  it('allows 60 s of clock skew on exp and nbf, and no more', async () => {
    const now = seconds();
    await verifier.verify(await sign(validClaims({ exp: now - 30 }), key.privateKey, own()));
    await assert.rejects(
      verifier.verify(await sign(validClaims({ exp: now - 90 }), key.privateKey, own())),
      assertRejected(/expired/),
    );
    await verifier.verify(await sign(validClaims({ nbf: now + 30 }), key.privateKey, own()));
    await assert.rejects(
      verifier.verify(await sign(validClaims({ nbf: now + 120 }), key.privateKey, own())),
      assertRejected(/not valid yet/),
    );
  });

  it('rejects a token without exp', async () => {
    const claims = validClaims();
    delete claims.exp;
    await assert.rejects(verifier.verify(await sign(claims, key.privateKey, own())), assertRejected(/exp/));
  });

  it('rejects a modified payload under the original signature', async () => {
    const token = await sign(validClaims(), key.privateKey, own());
    const [header, , signature] = token.split('.');
    const widened = validClaims({ access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }] });
    await assert.rejects(
      verifier.verify(`${header}.${base64url(widened)}.${signature}`),
      assertRejected(/signature is invalid/),
    );
  });

  it('rejects a token signed by another key under our kid, and an unknown kid', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await assert.rejects(
      verifier.verify(await sign(validClaims(), other, own())),
      assertRejected(/signature is invalid/),
    );
    await assert.rejects(
      verifier.verify(await sign(validClaims(), other, { alg: 'ES256', kid: libtrustKeyId(other) })),
      assertRejected(/untrusted key/),
    );
    await assert.rejects(
      verifier.verify(await sign(validClaims(), key.privateKey, { alg: 'ES256' })),
      assertRejected(/names no signing key/),
    );
  });

  it('rejects an access claim of the wrong shape, and a token that is not an access token', async () => {
    await assert.rejects(
      verifier.verify(
        await sign(validClaims({ access: [{ type: 'repository', actions: ['pull'] }] }), key.privateKey, own()),
      ),
      assertRejected(/no name/),
    );
    await assert.rejects(
      verifier.verify(await sign(validClaims({ access: 'repository:team/app:pull' }), key.privateKey, own())),
      assertRejected(/not a list/),
    );
    await assert.rejects(
      verifier.verify(await sign(validClaims(), key.privateKey, { ...own(), typ: 'wharf-refresh+jwt' })),
      assertRejected(/not an access token/),
    );
    await assert.rejects(verifier.verify('not-a-jwt'), assertRejected(/malformed/));
  });
});

describe('token verifier: consumer mode (auth.token)', () => {
  let directory: string;
  let rootCertificate: X509Certificate;
  let rootKey: KeyObject;
  let bundlePath: string;
  let leafChain: string[];
  let leafKey: KeyObject;
  let intermediateChain: string[];
  let intermediateLeafKey: KeyObject;
  let foreignChain: string[];
  let foreignLeafKey: KeyObject;

  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: directory, stdio: 'pipe' });
  const der = async (file: string) => new X509Certificate(await readFile(join(directory, file))).raw.toString('base64');

  async function makeRoot(name: string): Promise<void> {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '30',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  }

  async function makeIssued(name: string, issuerName: string, ca: boolean): Promise<void> {
    await writeFile(
      join(directory, `${name}.ext`),
      ca
        ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n'
        : 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n',
    );
    openssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuerName}.crt`,
      '-CAkey',
      `${issuerName}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '10',
      '-extfile',
      `${name}.ext`,
    );
  }

  const privateKey = async (name: string) => createPrivateKey(await readFile(join(directory, `${name}.key`)));

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wharf-token-consumer-'));
    await makeRoot('root');
    await makeIssued('signer', 'root', false);
    await makeIssued('intermediate', 'root', true);
    await makeIssued('deep-signer', 'intermediate', false);
    await makeRoot('foreign-root');
    await makeIssued('foreign-signer', 'foreign-root', false);
    rootCertificate = new X509Certificate(await readFile(join(directory, 'root.crt')));
    rootKey = await privateKey('root');
    bundlePath = join(directory, 'bundle.pem');
    await writeFile(bundlePath, await readFile(join(directory, 'root.crt')));
    leafChain = [await der('signer.crt')];
    leafKey = await privateKey('signer');
    intermediateChain = [await der('deep-signer.crt'), await der('intermediate.crt')];
    intermediateLeafKey = await privateKey('deep-signer');
    foreignChain = [await der('foreign-signer.crt')];
    foreignLeafKey = await privateKey('foreign-signer');
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const config = (overrides: Partial<TokenConfig> = {}): TokenConfig => ({
    realm: 'https://auth.example.com/token',
    service,
    issuer,
    autoredirect: false,
    rootcertbundle: bundlePath,
    ...overrides,
  });

  it('accepts an x5c chain that leads to a root of the bundle, directly or through an intermediate', async () => {
    const verifier = await JwtTokenVerifier.fromConfig(config());
    const direct = await verifier.verify(await sign(validClaims(), leafKey, { alg: 'ES256', x5c: leafChain }));
    assert.equal(direct.name, 'alice');
    assert.deepEqual(direct.grants, access);
    const deep = await verifier.verify(
      await sign(validClaims({ sub: 'bob' }), intermediateLeafKey, { alg: 'ES256', x5c: intermediateChain }),
    );
    assert.equal(deep.name, 'bob');
  });

  it('rejects an x5c chain to another root, a chain signed by another key, and an expired certificate', async () => {
    const verifier = await JwtTokenVerifier.fromConfig(config());
    await assert.rejects(
      verifier.verify(await sign(validClaims(), foreignLeafKey, { alg: 'ES256', x5c: foreignChain })),
      assertRejected(/does not lead to a trusted root/),
    );
    await assert.rejects(
      verifier.verify(await sign(validClaims(), foreignLeafKey, { alg: 'ES256', x5c: leafChain })),
      assertRejected(/signature is invalid/),
    );
    await assert.rejects(
      verifier.verify(
        await sign(validClaims(), intermediateLeafKey, { alg: 'ES256', x5c: intermediateChain.slice(0, 1) }),
      ),
      assertRejected(/does not lead to a trusted root/),
    );
    const later = Date.now() + 20 * 86_400_000;
    const future = await JwtTokenVerifier.fromConfig(config(), { now: () => later });
    const laterSeconds = Math.floor(later / 1000);
    const token = await sign(validClaims({ iat: laterSeconds, nbf: laterSeconds, exp: laterSeconds + 300 }), leafKey, {
      alg: 'ES256',
      x5c: leafChain,
    });
    await assert.rejects(future.verify(token), assertRejected(/not valid now/));
  });

  it('accepts a kid naming a root key by its libtrust key ID or its RFC 7638 thumbprint', async () => {
    const verifier = await JwtTokenVerifier.fromConfig(config());
    const libtrust = libtrustKeyId(rootCertificate.publicKey);
    const thumbprint = await jwkThumbprint(rootCertificate.publicKey);
    assert.equal(
      (await verifier.verify(await sign(validClaims(), rootKey, { alg: 'ES256', kid: libtrust }))).name,
      'alice',
    );
    assert.equal(
      (await verifier.verify(await sign(validClaims(), rootKey, { alg: 'ES256', kid: thumbprint }))).name,
      'alice',
    );
    await assert.rejects(
      verifier.verify(await sign(validClaims(), leafKey, { alg: 'ES256', kid: libtrustKeyId(leafKey) })),
      assertRejected(/untrusted key/),
    );
  });

  it('accepts an embedded jwk only when it is a trusted key', async () => {
    const verifier = await JwtTokenVerifier.fromConfig(config());
    const trustedJwk = await exportJWK(rootCertificate.publicKey);
    assert.equal(
      (await verifier.verify(await sign(validClaims(), rootKey, { alg: 'ES256', jwk: trustedJwk }))).name,
      'alice',
    );
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await assert.rejects(
      verifier.verify(
        await sign(validClaims(), other.privateKey, { alg: 'ES256', jwk: await exportJWK(other.publicKey) }),
      ),
      assertRejected(/not a trusted key/),
    );
  });

  it('accepts tokens signed by a key of a JWKS file, by kid', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwksPath = join(directory, 'jwks.json');
    await writeFile(jwksPath, JSON.stringify({ keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'issuer-key-1' }] }));
    const verifier = await JwtTokenVerifier.fromConfig(config({ rootcertbundle: undefined, jwks: jwksPath }));
    const principal = await verifier.verify(
      await sign(validClaims(), rsa.privateKey, { alg: 'RS256', kid: 'issuer-key-1' }),
    );
    assert.deepEqual(principal.grants, access);
    await assert.rejects(
      verifier.verify(await sign(validClaims(), rsa.privateKey, { alg: 'RS256', kid: 'issuer-key-2' })),
      assertRejected(/untrusted key/),
    );
    await assert.rejects(
      verifier.verify(await sign(validClaims(), leafKey, { alg: 'ES256', x5c: leafChain })),
      assertRejected(/no root certificates/),
    );
  });

  it('honours signingalgorithms and refuses shared-secret algorithms in it', async () => {
    const rsaOnly = await JwtTokenVerifier.fromConfig(config({ signingalgorithms: ['RS256'] }));
    await assert.rejects(
      rsaOnly.verify(await sign(validClaims(), leafKey, { alg: 'ES256', x5c: leafChain })),
      assertRejected(/algorithm not accepted/),
    );
    await assert.rejects(
      JwtTokenVerifier.fromConfig(config({ signingalgorithms: ['ES256', 'HS256'] })),
      /shared secret/,
    );
    await assert.rejects(JwtTokenVerifier.fromConfig(config({ signingalgorithms: ['none'] })), /unsupported algorithm/);
  });

  it('refuses a configuration without any signing key, and symmetric JWKS keys', async () => {
    const emptyBundle = join(directory, 'empty.pem');
    await writeFile(emptyBundle, '');
    await assert.rejects(JwtTokenVerifier.fromConfig(config({ rootcertbundle: emptyBundle })), TrustMaterialError);
    const secretJwks = join(directory, 'secret.json');
    await writeFile(secretJwks, JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 's' }] }));
    await assert.rejects(
      JwtTokenVerifier.fromConfig(config({ rootcertbundle: undefined, jwks: secretJwks })),
      /symmetric/,
    );
  });
});
