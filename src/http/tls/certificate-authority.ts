import './reflect-metadata.ts';
import { createPrivateKey, createPublicKey, randomBytes, timingSafeEqual, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

type CryptoKey = webcrypto.CryptoKey;
type SigningAlgorithm = webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;

/** A certificate and its private key, both PEM. */
export interface IssuedCertificate {
  certificatePem: string;
  keyPem: string;
  certificate: x509.X509Certificate;
}

/** Leaf keys: ECDSA P-256 with SHA-256, which every container client (Go, OpenSSL, Node) accepts. */
const leafKeyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Certificates start a few minutes in the past so a client whose clock is slightly behind accepts them. */
const clockSkewMs = 5 * 60_000;
const dayMs = 86_400_000;

/** A private certificate authority: issues the registry's server certificate and client certificates. */
export class CertificateAuthority {
  private constructor(
    readonly certificate: x509.X509Certificate,
    readonly certificatePem: string,
    readonly keyPem: string,
    private readonly signingKey: CryptoKey,
    private readonly signingAlgorithm: SigningAlgorithm,
  ) {}

  /** A new CA with an ECDSA P-256 key, valid for `days`. */
  static async create(options: { commonName: string; days: number }): Promise<CertificateAuthority> {
    const keys = await webcrypto.subtle.generateKey(leafKeyAlgorithm, true, ['sign', 'verify']);
    const { notBefore, notAfter } = validity(options.days);
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: [{ CN: [options.commonName] }, { O: ['Wharf'] }],
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: leafKeyAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(
      certificate,
      certificate.toString('pem'),
      await privateKeyPem(keys.privateKey),
      keys.privateKey,
      leafKeyAlgorithm,
    );
  }

  /**
   * An existing CA from its PEM certificate and private key (PKCS#8, SEC1 or PKCS#1; EC or RSA).
   * Throws when the key does not belong to the certificate or the certificate is not a CA.
   */
  static async load(certificatePem: string, keyPem: string): Promise<CertificateAuthority> {
    const certificate = new x509.X509Certificate(certificatePem);
    const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
    if (!constraints?.ca) throw new Error('the certificate is not a certificate authority (basicConstraints CA:FALSE)');
    const privateKey = createPrivateKey(keyPem);
    const publicFromKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    const publicFromCertificate = Buffer.from(certificate.publicKey.rawData);
    if (
      publicFromKey.length !== publicFromCertificate.length ||
      !timingSafeEqual(publicFromKey, publicFromCertificate)
    ) {
      throw new Error('the private key does not belong to the CA certificate');
    }
    const algorithm = signingAlgorithmOf(privateKey);
    const signingKey = await webcrypto.subtle.importKey(
      'pkcs8',
      privateKey.export({ type: 'pkcs8', format: 'der' }),
      algorithm,
      false,
      ['sign'],
    );
    return new CertificateAuthority(certificate, certificatePem, keyPem, signingKey, algorithm);
  }

  /**
   * A server certificate for `hosts` (DNS names, `*.` wildcards or IP addresses, all in the
   * subjectAltName; the first is also the CN), for TLS server authentication only.
   */
  async issueServerCertificate(options: { hosts: readonly string[]; days: number }): Promise<IssuedCertificate> {
    const names = serverNames(options.hosts);
    return this.issue({
      commonName: options.hosts[0]!,
      days: options.days,
      extensions: [
        new x509.SubjectAlternativeNameExtension(names, false),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      ],
    });
  }

  /** A client certificate with the subject CN `name`, for TLS client authentication only. */
  async issueClientCertificate(options: { name: string; days: number }): Promise<IssuedCertificate> {
    validateCommonName(options.name);
    return this.issue({
      commonName: options.name,
      days: options.days,
      extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false)],
    });
  }

  private async issue(options: {
    commonName: string;
    days: number;
    extensions: x509.Extension[];
  }): Promise<IssuedCertificate> {
    const keys = await webcrypto.subtle.generateKey(leafKeyAlgorithm, true, ['sign', 'verify']);
    const { notBefore, notAfter } = validity(options.days);
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: [{ CN: [options.commonName] }],
      issuer: this.certificate.subjectName,
      notBefore,
      notAfter: new Date(Math.min(notAfter.getTime(), this.certificate.notAfter.getTime())),
      publicKey: keys.publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: this.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        ...options.extensions,
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate.publicKey),
      ],
    });
    return { certificate, certificatePem: certificate.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
  }
}

/**
 * The subjectAltNames for server hosts. Throws for none, or for a host given with a port or a
 * scheme, which would never match what a client checks.
 */
export function serverNames(hosts: readonly string[]): x509.JsonGeneralName[] {
  if (hosts.length === 0) throw new Error('a server certificate needs at least one host name or address');
  return hosts.map(subjectAltName);
}

function subjectAltName(host: string): x509.JsonGeneralName {
  if (isIP(host) !== 0) return { type: 'ip', value: host };
  const label = '(?!-)[a-z0-9-]{1,63}(?<!-)';
  const dnsName = new RegExp(`^(\\*\\.)?${label}(\\.${label})*\\.?$`, 'i');
  if (!dnsName.test(host) || host.length > 253) {
    throw new Error(`"${host}" is neither a DNS name nor an IP address (give the host without scheme or port)`);
  }
  return { type: 'dns', value: host.toLowerCase().replace(/\.$/, '') };
}

function validateCommonName(name: string): void {
  // X.520 caps the common name at 64 characters; control characters would garble logs and audit.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point
  if (name.length === 0 || name.length > 64 || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new Error(`"${name}" cannot be a certificate name: 1 to 64 printable characters`);
  }
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(days) || days < 1) throw new Error(`validity must be a whole number of days, got ${days}`);
  const now = Date.now();
  return { notBefore: new Date(now - clockSkewMs), notAfter: new Date(now + days * dayMs) };
}

/** 16 random bytes, top bit clear so the DER integer stays positive (RFC 5280 §4.1.2.2). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function signingAlgorithmOf(key: ReturnType<typeof createPrivateKey>): SigningAlgorithm {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  if (key.asymmetricKeyType === 'ec') {
    const curves: Record<string, { namedCurve: string; hash: string }> = {
      prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
      secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
      secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
    };
    const curve = curves[details?.namedCurve ?? ''];
    if (curve) return { name: 'ECDSA', ...curve } as webcrypto.EcKeyImportParams;
  }
  throw new Error(`unsupported CA key type ${key.asymmetricKeyType ?? 'unknown'} ${details?.namedCurve ?? ''}`.trim());
}
