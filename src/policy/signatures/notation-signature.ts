import { constants, type KeyObject, verify, X509Certificate } from 'node:crypto';
import { NotationTypes, parseJson } from './signature-formats.ts';
import type { TrustedCertificate } from './trusted-keys.ts';

/** What checking one notation signature found. */
export type NotationVerdict = 'verified' | 'untrusted' | 'wrong-subject';

/** The JWS algorithms notation signs with (notaryproject/specifications, specs/signature-envelope-jws.md). */
const algorithms: Record<string, { hash: string; kind: 'pss' | 'ecdsa' }> = {
  PS256: { hash: 'sha256', kind: 'pss' },
  PS384: { hash: 'sha384', kind: 'pss' },
  PS512: { hash: 'sha512', kind: 'pss' },
  ES256: { hash: 'sha256', kind: 'ecdsa' },
  ES384: { hash: 'sha384', kind: 'ecdsa' },
  ES512: { hash: 'sha512', kind: 'ecdsa' },
};

const signingSchemes = new Set(['notary.x509', 'notary.x509.signingAuthority']);

/**
 * Checks a notation JWS envelope (JSON serialization: `payload`, `protected`, `header.x5c`,
 * `signature`) over `subject`:
 * - the protected header has `cty` `application/vnd.cncf.notary.payload.v1+json`, a known `alg`, and
 *   the signing scheme named critical;
 * - the payload's `targetArtifact.digest` is the subject;
 * - the signature over `protected.payload` verifies with the leaf certificate of `x5c`, whose
 *   validity covers the signing time;
 * - each certificate of `x5c` is issued and signed by the next, and the chain contains or ends in
 *   a certificate issued by one of `trusted`.
 * Revocation and timestamping are not checked.
 */
export function verifyNotationJws(
  envelope: Buffer,
  subject: string,
  trusted: readonly TrustedCertificate[],
): NotationVerdict {
  const jws = parseJson(envelope);
  if (!jws) return 'untrusted';
  const { payload, protected: protectedHeader, signature, header } = jws;
  if (typeof payload !== 'string' || typeof protectedHeader !== 'string' || typeof signature !== 'string') {
    return 'untrusted';
  }
  const target = (parseJson(Buffer.from(payload, 'base64url'))?.targetArtifact ?? {}) as Record<string, unknown>;
  if (target.digest !== subject) return 'wrong-subject';
  const headers = parseJson(Buffer.from(protectedHeader, 'base64url'));
  if (!headers || headers.cty !== NotationTypes.payloadContentType) return 'untrusted';
  const scheme = headers['io.cncf.notary.signingScheme'];
  const critical = headers.crit;
  if (typeof scheme !== 'string' || !signingSchemes.has(scheme)) return 'untrusted';
  if (!Array.isArray(critical) || !critical.includes('io.cncf.notary.signingScheme')) return 'untrusted';
  const algorithm = algorithms[String(headers.alg)];
  if (!algorithm) return 'untrusted';
  const chain = certificateChain((header as Record<string, unknown> | undefined)?.x5c);
  const leaf = chain?.[0];
  if (!chain || !leaf) return 'untrusted';
  const signedAt = Date.parse(String(headers['io.cncf.notary.signingTime']));
  if (Number.isNaN(signedAt) || signedAt < Date.parse(leaf.validFrom) || signedAt > Date.parse(leaf.validTo)) {
    return 'untrusted';
  }
  const signingInput = Buffer.from(`${protectedHeader}.${payload}`, 'ascii');
  if (!verifiesJws(algorithm, leaf.publicKey, signingInput, Buffer.from(signature, 'base64url'))) return 'untrusted';
  return chainIsTrusted(chain, trusted) ? 'verified' : 'untrusted';
}

function certificateChain(x5c: unknown): X509Certificate[] | undefined {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > 10) return undefined;
  try {
    return x5c.map((entry) => {
      if (typeof entry !== 'string') throw new Error('not a string');
      return new X509Certificate(Buffer.from(entry, 'base64'));
    });
  } catch {
    return undefined;
  }
}

function verifiesJws(
  algorithm: { hash: string; kind: 'pss' | 'ecdsa' },
  key: KeyObject,
  data: Buffer,
  signature: Buffer,
): boolean {
  try {
    if (algorithm.kind === 'ecdsa') {
      if (key.asymmetricKeyType !== 'ec') return false;
      // JWS carries ECDSA signatures as r || s, not DER.
      return verify(algorithm.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    if (key.asymmetricKeyType !== 'rsa') return false;
    const saltLength = { sha256: 32, sha384: 48, sha512: 64 }[algorithm.hash];
    return verify(algorithm.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature);
  } catch {
    return false;
  }
}

/** Each certificate issued by the next; a trusted certificate in the chain or issuing its last one. */
function chainIsTrusted(chain: readonly X509Certificate[], trusted: readonly TrustedCertificate[]): boolean {
  for (let index = 0; index < chain.length; index++) {
    const certificate = chain[index] as X509Certificate;
    if (trusted.some((anchor) => anchor.certificate.raw.equals(certificate.raw))) return true;
    const issuer = chain[index + 1];
    if (issuer === undefined) {
      return trusted.some((anchor) => issuedBy(certificate, anchor.certificate));
    }
    if (!issuedBy(certificate, issuer)) return false;
  }
  return false;
}

function issuedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
  } catch {
    return false;
  }
}
