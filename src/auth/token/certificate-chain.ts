import { type KeyObject, X509Certificate } from 'node:crypto';
import { TokenError } from '../auth-services.ts';

const maxChainLength = 10;

/**
 * Verifies a token's `x5c` header (base64 DER certificates, signing certificate first) up to one of
 * the trusted roots, as Distribution does with Go's x509 verification: every certificate within its
 * validity period, each one signed by the next, intermediates marked as CAs. A signing certificate
 * that is itself one of the roots is trusted as it is. Returns the signing certificate's public key.
 */
export function verifyCertificateChain(
  x5c: unknown,
  roots: readonly X509Certificate[],
  now: Date = new Date(),
): KeyObject {
  if (!Array.isArray(x5c) || x5c.length === 0) throw new TokenError('x5c header is not a certificate list');
  if (x5c.length > maxChainLength) throw new TokenError(`x5c header holds more than ${maxChainLength} certificates`);
  if (roots.length === 0) throw new TokenError('token carries x5c but no root certificates are configured');
  const [leaf, ...intermediates] = x5c.map(decodeCertificate);
  if (!leaf) throw new TokenError('x5c header is empty');

  let current = leaf;
  const used = new Set<X509Certificate>();
  for (let depth = 0; depth <= maxChainLength; depth++) {
    checkValidity(current, now);
    if (roots.some((root) => root.raw.equals(current.raw))) return leaf.publicKey;
    const root = roots.find((candidate) => issued(current, candidate));
    if (root) {
      checkValidity(root, now);
      return leaf.publicKey;
    }
    const next = intermediates.find((candidate) => !used.has(candidate) && issued(current, candidate));
    if (!next) throw new TokenError('x5c certificate chain does not lead to a trusted root certificate');
    used.add(next);
    current = next;
  }
  throw new TokenError('x5c certificate chain is too long');
}

function decodeCertificate(value: unknown): X509Certificate {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
    throw new TokenError('x5c entry is not base64');
  }
  try {
    return new X509Certificate(Buffer.from(value, 'base64'));
  } catch {
    throw new TokenError('x5c entry is not a DER certificate');
  }
}

function issued(child: X509Certificate, issuer: X509Certificate): boolean {
  return issuer.ca && child.checkIssued(issuer) && child.verify(issuer.publicKey);
}

function checkValidity(certificate: X509Certificate, now: Date): void {
  const from = new Date(certificate.validFrom);
  const to = new Date(certificate.validTo);
  if (!(now >= from && now <= to)) {
    throw new TokenError(`certificate "${certificate.subject.replace(/\n/g, ', ')}" is not valid now`);
  }
}
