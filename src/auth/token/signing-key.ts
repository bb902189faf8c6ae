import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, type JWK } from 'jose';
import { libtrustKeyId } from './key-id.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export type SigningAlgorithm = 'ES256' | 'ES384' | 'ES512' | 'RS256';

/** The token service's private key, with what a verifier needs to know about it. */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  algorithm: SigningAlgorithm;
  /** The libtrust key ID, sent as the tokens' `kid` and published in the JWKS. */
  keyId: string;
  /** Where the key came from: a file path, or `inline` for PEM text in the config. */
  source: string;
  /** True when this start generated the key (and wrote it to `source`). */
  generated: boolean;
}

export interface SigningKeyOptions {
  /** `auth.tokenservice.key`: a path to a PEM private key, or the PEM text itself. */
  key?: string;
  /** `auth.tokenservice.algorithm`: what to generate when no key is configured. */
  algorithm: 'ES256' | 'RS256';
  /** Where a generated key is kept (the storage root directory). */
  directory: string;
}

export const generatedKeyFileName = 'token-signing-key.pem';

export class SigningKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

/**
 * The configured key, else the one generated on an earlier start, else a new one written with mode
 * 0600 beside the data so tokens stay valid across restarts. Several instances must share one
 * configured key: each would otherwise generate its own and refuse the others' tokens.
 */
export async function loadSigningKey(options: SigningKeyOptions): Promise<SigningKey> {
  if (options.key !== undefined) {
    const inline = options.key.includes('-----BEGIN');
    const pem = inline ? options.key : await readKeyFile(options.key);
    return describeKey(parsePrivateKey(pem, inline ? 'auth.tokenservice.key' : options.key), {
      source: inline ? 'inline' : options.key,
      generated: false,
    });
  }
  const path = join(options.directory, generatedKeyFileName);
  const existing = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (existing !== undefined) return describeKey(parsePrivateKey(existing, path), { source: path, generated: false });

  const privateKey = await generatePrivateKey(options.algorithm);
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const won = await writeOnce(options.directory, path, pem);
  if (!won) {
    // Another instance sharing this directory generated one first: use theirs, so both agree.
    return describeKey(parsePrivateKey(await readFile(path, 'utf8'), path), { source: path, generated: false });
  }
  return describeKey(privateKey, { source: path, generated: true });
}

/** The public half as a JWK with `kid`, `alg` and `use`, for a JWKS document. */
export async function publicJwk(key: SigningKey): Promise<JWK> {
  const jwk = await exportJWK(key.publicKey);
  return { ...jwk, kid: key.keyId, alg: key.algorithm, use: 'sig' };
}

/** A JWKS document (RFC 7517) of these keys' public halves. */
export async function publicJwks(keys: readonly SigningKey[]): Promise<{ keys: JWK[] }> {
  return { keys: await Promise.all(keys.map(publicJwk)) };
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new SigningKeyError(`auth.tokenservice.key: cannot read ${path}: ${(error as Error).message}`);
  }
}

function parsePrivateKey(pem: string, where: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new SigningKeyError(`${where}: not a PEM private key (${(error as Error).message})`);
  }
}

async function generatePrivateKey(algorithm: 'ES256' | 'RS256'): Promise<KeyObject> {
  const pair =
    algorithm === 'RS256'
      ? await generateKeyPairAsync('rsa', { modulusLength: 2048 })
      : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  return pair.privateKey;
}

function describeKey(privateKey: KeyObject, origin: { source: string; generated: boolean }): SigningKey {
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    algorithm: algorithmFor(privateKey, origin.source),
    keyId: libtrustKeyId(publicKey),
    ...origin,
  };
}

/** The key decides the algorithm: an RSA key signs RS256, an EC key the ES algorithm of its curve. */
function algorithmFor(key: KeyObject, source: string): SigningAlgorithm {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') {
    if ((details?.modulusLength ?? 0) < 2048) {
      throw new SigningKeyError(`${source}: RSA token signing keys must have at least 2048 bits`);
    }
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = details?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
    throw new SigningKeyError(`${source}: EC curve ${curve} is not usable for tokens (use P-256, P-384 or P-521)`);
  }
  throw new SigningKeyError(
    `${source}: ${key.asymmetricKeyType} keys are not usable for tokens (use an EC P-256 or RSA key)`,
  );
}

/**
 * Writes the file only if it does not exist yet, never leaving a partial file visible: the bytes go
 * to a private temporary file first, which is then hard-linked into place (link fails if taken).
 */
async function writeOnce(directory: string, path: string, contents: string): Promise<boolean> {
  await mkdir(directory, { recursive: true });
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => {});
  }
}
