import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { jwkThumbprint, libtrustKeyId } from '../../src/auth/token/key-id.ts';
import { generatedKeyFileName, loadSigningKey, publicJwks, SigningKeyError } from '../../src/auth/token/signing-key.ts';

// A throwaway P-256 key; its libtrust ID was computed independently (openssl + Python's base32).
const fixtureKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVJIAIJUN76cTaUkK
AdPK1sFigcV1dEhQukB0EfjURpihRANCAATQ1/0sEcPNlRBu9atA/o9RQswTOznF
eZ+l5tpE4I4f2Ub4bo0P8It7Gd6picOkYcaS6NYbNeOalJCkdt1o7vwH
-----END PRIVATE KEY-----
`;
const fixtureKeyId = 'RT4W:734I:CHAS:G4TE:JQNU:QI35:XYOG:VPXZ:5W7K:WURC:2KXM:YHGZ';

describe('token signing key', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wharf-signing-key-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('computes the libtrust key ID Distribution 2 and Harbor expect', async () => {
    const key = await loadSigningKey({ key: fixtureKey, algorithm: 'ES256', directory });
    assert.equal(key.keyId, fixtureKeyId);
    assert.equal(libtrustKeyId(key.publicKey), fixtureKeyId);
    assert.match(key.keyId, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    assert.equal(key.algorithm, 'ES256');
    assert.equal(key.source, 'inline');
    assert.equal(key.generated, false);
  });

  it('computes the RFC 7638 thumbprint (RFC 7638 section 3.1 example key)', async () => {
    const { createPublicKey } = await import('node:crypto');
    const rfcKey = createPublicKey({
      format: 'jwk',
      key: {
        kty: 'RSA',
        e: 'AQAB',
        n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      },
    });
    assert.equal(await jwkThumbprint(rfcKey), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('generates a P-256 key on first start, writes it with mode 0600 and reuses it afterwards', async () => {
    const first = await loadSigningKey({ algorithm: 'ES256', directory });
    const path = join(directory, generatedKeyFileName);
    assert.equal(first.generated, true);
    assert.equal(first.source, path);
    assert.equal(first.algorithm, 'ES256');
    assert.equal(first.privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.match(await readFile(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);

    const second = await loadSigningKey({ algorithm: 'ES256', directory });
    assert.equal(second.generated, false);
    assert.equal(second.keyId, first.keyId);
    assert.ok(second.publicKey.equals(first.publicKey));
  });

  it('generates an RSA 2048 key when RS256 is configured', async () => {
    const key = await loadSigningKey({ algorithm: 'RS256', directory });
    assert.equal(key.algorithm, 'RS256');
    assert.equal(key.privateKey.asymmetricKeyType, 'rsa');
    assert.equal(key.privateKey.asymmetricKeyDetails?.modulusLength, 2048);
  });

  it('agrees on one key when two instances start on the same directory at once', async () => {
    const keys = await Promise.all([
      loadSigningKey({ algorithm: 'ES256', directory }),
      loadSigningKey({ algorithm: 'ES256', directory }),
      loadSigningKey({ algorithm: 'ES256', directory }),
    ]);
    assert.equal(new Set(keys.map((key) => key.keyId)).size, 1);
    assert.equal(keys.filter((key) => key.generated).length, 1);
  });

  it('reads a configured key file and takes the algorithm from the key', async () => {
    const path = join(directory, 'rsa.pem');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(path, privateKey.export({ type: 'pkcs1', format: 'pem' }));
    const key = await loadSigningKey({ key: path, algorithm: 'ES256', directory });
    assert.equal(key.algorithm, 'RS256');
    assert.equal(key.source, path);
    await assert.rejects(stat(join(directory, generatedKeyFileName)), { code: 'ENOENT' });
  });

  it('refuses keys that cannot sign tokens safely', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    await assert.rejects(loadSigningKey({ key: weak.toString(), algorithm: 'ES256', directory }), SigningKeyError);
    const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    await assert.rejects(loadSigningKey({ key: secp256k1.toString(), algorithm: 'ES256', directory }), SigningKeyError);
    await assert.rejects(
      loadSigningKey({
        key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----',
        algorithm: 'ES256',
        directory,
      }),
      SigningKeyError,
    );
    await assert.rejects(
      loadSigningKey({ key: join(directory, 'missing.pem'), algorithm: 'ES256', directory }),
      /cannot read/,
    );
  });

  it('publishes the public key, and nothing private, as a JWKS', async () => {
    const key = await loadSigningKey({ key: fixtureKey, algorithm: 'ES256', directory });
    const jwks = await publicJwks([key]);
    assert.equal(jwks.keys.length, 1);
    const [jwk] = jwks.keys;
    assert.deepEqual(Object.keys(jwk ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.equal(jwk?.kid, fixtureKeyId);
    assert.equal(jwk?.alg, 'ES256');
    assert.equal(jwk?.use, 'sig');
  });
});
