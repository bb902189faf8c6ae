import { constants, createHash, createPublicKey, type KeyObject, verify, X509Certificate } from 'node:crypto';

/** A public key signatures are verified against: ECDSA P-256/P-384/P-521, RSA or Ed25519. */
export interface TrustedKey {
  name: string;
  /** The PEM as given, kept for the API. */
  pem: string;
  key: KeyObject;
  /** `sha256:<hex>` of the key's DER (SubjectPublicKeyInfo): names it in logs and caches. */
  fingerprint: string;
}

/** A certificate notation signatures must chain to (a root or intermediate CA, or the signing certificate itself). */
export interface TrustedCertificate {
  name: string;
  pem: string;
  certificate: X509Certificate;
  /** `sha256:<hex>` of the certificate's DER. */
  fingerprint: string;
}

export class TrustMaterialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrustMaterialError';
  }
}

const ellipticCurves = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/** Parses a PEM public key (SubjectPublicKeyInfo); throws TrustMaterialError naming what is wrong. */
export function parseTrustedKey(name: string, pem: string): TrustedKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new TrustMaterialError(`${name}: not a PEM public key (${(error as Error).message})`);
  }
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    if (!ellipticCurves.has(curve)) throw new TrustMaterialError(`${name}: unsupported elliptic curve ${curve}`);
  } else if (type === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      throw new TrustMaterialError(`${name}: an RSA key needs at least 2048 bits`);
    }
  } else if (type !== 'ed25519') {
    throw new TrustMaterialError(`${name}: unsupported key type ${type}; use ECDSA, RSA or Ed25519`);
  }
  const der = key.export({ type: 'spki', format: 'der' });
  return { name, pem, key, fingerprint: `sha256:${createHash('sha256').update(der).digest('hex')}` };
}

/** Parses a PEM X.509 certificate; throws TrustMaterialError naming what is wrong. */
export function parseTrustedCertificate(name: string, pem: string): TrustedCertificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch (error) {
    throw new TrustMaterialError(`${name}: not a PEM X.509 certificate (${(error as Error).message})`);
  }
  return {
    name,
    pem,
    certificate,
    fingerprint: `sha256:${createHash('sha256').update(certificate.raw).digest('hex')}`,
  };
}

/**
 * Whether `signature` over `data` verifies with `key`, as cosign signs with a key pair: ECDSA
 * (ASN.1 DER signature) over SHA-256 (and the curve's own hash for P-384/P-521, which newer
 * signers choose), RSA PKCS#1 v1.5 or PSS over SHA-256, Ed25519 over the bytes themselves.
 */
export function verifiesWithKey(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ed25519':
        return verify(null, data, key, signature);
      case 'ec': {
        if (verify('sha256', data, key, signature)) return true;
        const curve = key.asymmetricKeyDetails?.namedCurve;
        if (curve === 'secp384r1') return verify('sha384', data, key, signature);
        if (curve === 'secp521r1') return verify('sha512', data, key, signature);
        return false;
      }
      case 'rsa':
        return (
          verify('sha256', data, key, signature) ||
          verify('sha256', data, { key, padding: rsaPssPadding, saltLength: rsaPssAutoSalt }, signature)
        );
      default:
        return false;
    }
  } catch {
    // A malformed signature (bad DER, wrong length) is simply not a valid one.
    return false;
  }
}

const rsaPssPadding = constants.RSA_PKCS1_PSS_PADDING;
const rsaPssAutoSalt = constants.RSA_PSS_SALTLEN_AUTO;

/** One identifier for a set of keys and certificates: equal sets, equal ids, whatever the order. */
export function trustSetId(keys: readonly TrustedKey[], certificates: readonly TrustedCertificate[]): string {
  const parts = [...keys.map((key) => `k${key.fingerprint}`), ...certificates.map((cert) => `c${cert.fingerprint}`)];
  return createHash('sha256').update(parts.sort().join(',')).digest('hex').slice(0, 32);
}
