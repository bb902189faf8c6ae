import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerOptions } from 'node:https';
import { createSecureContext, DEFAULT_CIPHERS, type SecureContextOptions, type SecureVersion } from 'node:tls';
import { type Config, ConfigError } from '../../config/index.ts';
import { cipherList } from './cipher-suites.ts';

export type TlsSettings = Config['http']['tls'];

/** TLS is on when both the certificate and the key are configured. */
export function tlsEnabled(settings: TlsSettings): settings is TlsSettings & { certificate: string; key: string } {
  return settings.certificate !== undefined && settings.key !== undefined;
}

/** The bytes of every file TLS depends on, as read at one moment. */
export interface TlsFiles {
  certificate: Buffer;
  key: Buffer;
  /** One entry per http.tls.clientcas file, in order. */
  clientCas: Buffer[];
}

const protocolVersions: Record<TlsSettings['minimumtls'], SecureVersion> = {
  'tls1.0': 'TLSv1',
  'tls1.1': 'TLSv1.1',
  'tls1.2': 'TLSv1.2',
  'tls1.3': 'TLSv1.3',
};

/** The paths http.tls names, in the order readTlsFiles reads them (for watching). */
export function tlsFilePaths(settings: TlsSettings): string[] {
  if (!tlsEnabled(settings)) return [];
  return [settings.certificate, settings.key, ...settings.clientcas];
}

/** Reads the certificate, key and client CA files; an unreadable file is an error naming its key. */
export async function readTlsFiles(settings: TlsSettings): Promise<TlsFiles> {
  if (!tlsEnabled(settings)) throw new ConfigError('http.tls.certificate and http.tls.key must both be set');
  const read = async (key: string, path: string) => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new ConfigError(`${key}: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  const [certificate, key, ...clientCas] = await Promise.all([
    read('http.tls.certificate', settings.certificate),
    read('http.tls.key', settings.key),
    ...settings.clientcas.map((path) => read('http.tls.clientcas', path)),
  ]);
  return { certificate: certificate!, key: key!, clientCas };
}

/**
 * What a secure context is made of: the certificate chain and key, the CAs client certificates are
 * checked against, the oldest protocol version and the ciphers. Throws a ConfigError naming the key
 * when the files do not make a usable context: not PEM, a key that does not match the certificate,
 * no certificate in a clientcas file, unknown cipher suites.
 */
export function secureContextOptions(settings: TlsSettings, files: TlsFiles): SecureContextOptions {
  let ciphers: string | undefined;
  try {
    ciphers = cipherList(settings.ciphersuites);
  } catch (error) {
    throw new ConfigError(`http.tls.ciphersuites: ${(error as Error).message}`);
  }
  const minVersion = protocolVersions[settings.minimumtls];
  if (minVersion === 'TLSv1' || minVersion === 'TLSv1.1') {
    // OpenSSL 3 refuses TLS 1.0 and 1.1 at its default security level; asking for them means lowering it.
    ciphers = `${ciphers ?? DEFAULT_CIPHERS}:@SECLEVEL=0`;
  }
  for (const [index, pem] of files.clientCas.entries()) {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`http.tls.clientcas: ${settings.clientcas[index]} holds no PEM certificate`);
    }
  }
  const options: SecureContextOptions = {
    cert: files.certificate,
    key: files.key,
    minVersion,
    ...(ciphers === undefined ? {} : { ciphers }),
    ...(files.clientCas.length > 0 ? { ca: files.clientCas } : {}),
  };
  try {
    createSecureContext(options);
  } catch (error) {
    throw new ConfigError(
      `http.tls: ${settings.certificate} and ${settings.key} cannot be used: ${(error as Error).message}`,
    );
  }
  return options;
}

/**
 * Options for `https.createServer`. With clientcas the server asks for a client certificate but
 * lets the handshake succeed without one (or with one it cannot verify): the registry then falls
 * back to Basic or Bearer authentication, and only `socket.authorized` certificates identify anyone.
 */
export function tlsServerOptions(settings: TlsSettings, files: TlsFiles): ServerOptions {
  const requestCertificates = files.clientCas.length > 0;
  return {
    ...secureContextOptions(settings, files),
    requestCert: requestCertificates,
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
  };
}

/** What to log about a server certificate: who it names and until when. */
export function describeCertificate(pem: Buffer): Record<string, string> {
  const certificate = new X509Certificate(pem);
  return {
    'tls.subject': certificate.subject.replaceAll('\n', ', '),
    'tls.names': certificate.subjectAltName ?? '',
    'tls.issuer': certificate.issuer.replaceAll('\n', ', '),
    'tls.notAfter': new Date(certificate.validTo).toISOString(),
    'tls.fingerprint256': certificate.fingerprint256,
  };
}
