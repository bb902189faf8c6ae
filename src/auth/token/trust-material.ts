import { createPublicKey, type JsonWebKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { keyIdsOf } from './key-id.ts';

export class TrustMaterialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrustMaterialError';
  }
}

/** The certificates of a PEM bundle (`auth.token.rootcertbundle`); other PEM blocks are skipped, as Distribution does. */
export async function loadRootCertificates(path: string): Promise<X509Certificate[]> {
  const text = await readTrustFile(path, 'auth.token.rootcertbundle');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new TrustMaterialError(
        `auth.token.rootcertbundle: ${path} holds an unreadable certificate: ${(error as Error).message}`,
      );
    }
  });
}

/**
 * Trusted keys by the `kid` a token may name them with. A root certificate's key is known by its
 * libtrust key ID (Distribution 2.x, Harbor, docker_auth) and by its RFC 7638 thumbprint
 * (Distribution 3).
 */
export async function keysOfCertificates(certificates: readonly X509Certificate[]): Promise<Map<string, KeyObject>> {
  const keys = new Map<string, KeyObject>();
  for (const certificate of certificates) {
    for (const id of await keyIdsOf(certificate.publicKey)) keys.set(id, certificate.publicKey);
  }
  return keys;
}

/**
 * The public keys of a JWKS file (`auth.token.jwks`) by their `kid`; a key without one is known by its
 * libtrust key ID and thumbprint. Symmetric keys are refused: a shared secret would let anyone who
 * can verify tokens also mint them.
 */
export async function loadJwks(path: string): Promise<Map<string, KeyObject>> {
  const text = await readTrustFile(path, 'auth.token.jwks');
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new TrustMaterialError(`auth.token.jwks: ${path} is not JSON: ${(error as Error).message}`);
  }
  const entries = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(entries)) throw new TrustMaterialError(`auth.token.jwks: ${path} has no "keys" list`);
  const keys = new Map<string, KeyObject>();
  for (const [index, entry] of entries.entries()) {
    const jwk = entry as Record<string, unknown>;
    if (jwk?.kty === 'oct') {
      throw new TrustMaterialError(
        `auth.token.jwks: key ${index} is symmetric (kty "oct"); only public keys are accepted`,
      );
    }
    let key: KeyObject;
    try {
      // A private JWK yields its public half: the private members are never kept.
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch (error) {
      throw new TrustMaterialError(`auth.token.jwks: key ${index} is unreadable: ${(error as Error).message}`);
    }
    if (typeof jwk.kid === 'string' && jwk.kid !== '') keys.set(jwk.kid, key);
    else for (const id of await keyIdsOf(key)) keys.set(id, key);
  }
  return keys;
}

async function readTrustFile(path: string, key: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new TrustMaterialError(`${key}: cannot read ${path}: ${(error as Error).message}`);
  }
}
