import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CIPHERS } from 'node:tls';
import { type ServerCertificateFiles, writeServerCertificate } from '../../src/http/tls/certificate-directory.ts';
import { cipherList } from '../../src/http/tls/cipher-suites.ts';
import { verifiedClientCertificate } from '../../src/http/tls/client-certificate.ts';
import {
  describeCertificate,
  readTlsFiles,
  secureContextOptions,
  type TlsFiles,
  type TlsSettings,
  tlsEnabled,
  tlsFilePaths,
  tlsServerOptions,
} from '../../src/http/tls/tls-options.ts';

describe('cipherList', () => {
  it('is undefined (Node’s default) when nothing is configured', () => {
    assert.equal(cipherList(undefined), undefined);
    assert.equal(cipherList([]), undefined);
  });

  it('translates Distribution’s Go names to OpenSSL’s and keeps every TLS 1.3 suite, as Go does', () => {
    assert.equal(
      cipherList(['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305']),
      'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305',
    );
  });

  it('takes TLS 1.3 suites when listed, and OpenSSL names as they are', () => {
    assert.equal(
      cipherList(['TLS_AES_128_GCM_SHA256', 'ECDHE-RSA-AES256-GCM-SHA384']),
      'TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES256-GCM-SHA384',
    );
  });

  it('refuses RC4 and unknown names, naming them', () => {
    assert.throws(() => cipherList(['TLS_ECDHE_RSA_WITH_RC4_128_SHA']), /TLS_ECDHE_RSA_WITH_RC4_128_SHA \(RC4\)/);
    assert.throws(() => cipherList(['tls_whatever']), /unknown cipher suite tls_whatever/);
  });
});

describe('TLS options from http.tls', () => {
  let dir: string;
  let pki: ServerCertificateFiles;
  let other: ServerCertificateFiles;
  /** The files of settings(), read once. */
  let files: TlsFiles;

  const settings = (overrides: Partial<TlsSettings> = {}): TlsSettings => ({
    certificate: pki.serverCertificate,
    key: pki.serverKey,
    clientcas: [],
    minimumtls: 'tls1.2',
    ...overrides,
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-tls-options-'));
    pki = await writeServerCertificate(join(dir, 'pki'), { hosts: ['localhost'], days: 3 });
    other = await writeServerCertificate(join(dir, 'other'), { hosts: ['localhost'], days: 3 });
    files = await readTlsFiles(settings());
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is on only with both a certificate and a key', () => {
    assert.equal(tlsEnabled(settings()), true);
    assert.equal(tlsEnabled(settings({ key: undefined })), false);
    assert.equal(tlsEnabled(settings({ certificate: undefined })), false);
    assert.deepEqual(tlsFilePaths(settings({ clientcas: ['/a.pem'] })), [
      pki.serverCertificate,
      pki.serverKey,
      '/a.pem',
    ]);
  });

  it('defaults to TLS 1.2 at least with Node’s ciphers, and asks for no client certificate', async () => {
    const options = tlsServerOptions(settings(), files);
    assert.equal(options.minVersion, 'TLSv1.2');
    assert.equal(options.ciphers, undefined);
    assert.equal(options.requestCert, false);
    assert.equal(options.ca, undefined);
    assert.deepEqual(options.ALPNProtocols, ['http/1.1']);
  });

  it('asks for client certificates against clientcas, without refusing clients that have none', async () => {
    const withClientCas = settings({ clientcas: [pki.caCertificate, other.caCertificate] });
    const withFiles = await readTlsFiles(withClientCas);
    const options = tlsServerOptions(withClientCas, withFiles);
    assert.equal(options.requestCert, true);
    assert.equal(options.rejectUnauthorized, false);
    assert.deepEqual(options.ca, withFiles.clientCas);
    assert.equal(withFiles.clientCas.length, 2);
  });

  it('maps minimumtls to Node’s versions, lowering OpenSSL’s security level only for 1.0 and 1.1', async () => {
    assert.equal(secureContextOptions(settings({ minimumtls: 'tls1.3' }), files).minVersion, 'TLSv1.3');
    const legacy = secureContextOptions(settings({ minimumtls: 'tls1.1' }), files);
    assert.equal(legacy.minVersion, 'TLSv1.1');
    assert.equal(legacy.ciphers, `${DEFAULT_CIPHERS}:@SECLEVEL=0`);
    assert.equal(secureContextOptions(settings({ minimumtls: 'tls1.0' }), files).minVersion, 'TLSv1');
  });

  it('names the key of a file it cannot read', async () => {
    await assert.rejects(
      readTlsFiles(settings({ key: join(dir, 'missing.key') })),
      /^ConfigError: http\.tls\.key: cannot read .*missing\.key: ENOENT/,
    );
    await assert.rejects(
      readTlsFiles(settings({ clientcas: [join(dir, 'missing-ca.crt')] })),
      /^ConfigError: http\.tls\.clientcas: cannot read/,
    );
  });

  it('refuses a key that does not match the certificate', async () => {
    const mismatched = settings({ key: other.serverKey });
    const mismatchedFiles = await readTlsFiles(mismatched);
    assert.throws(
      () => secureContextOptions(mismatched, mismatchedFiles),
      /http\.tls: .* cannot be used: .*key values mismatch/,
    );
  });

  it('refuses a clientcas file without a certificate and unknown cipher suites', async () => {
    const notCa = settings({ clientcas: [pki.serverKey] });
    assert.throws(() => secureContextOptions(notCa, { ...files, clientCas: [Buffer.from('nothing')] }), {
      message: `http.tls.clientcas: ${pki.serverKey} holds no PEM certificate`,
    });
    const badCiphers = settings({ ciphersuites: ['TLS_NOPE'] });
    assert.throws(() => secureContextOptions(badCiphers, files), {
      message: 'http.tls.ciphersuites: unknown cipher suite TLS_NOPE',
    });
  });

  it('describes the certificate for the log', async () => {
    const fields = describeCertificate(files.certificate);
    assert.equal(fields['tls.subject'], 'CN=localhost');
    assert.equal(fields['tls.names'], 'DNS:localhost');
    assert.match(fields['tls.fingerprint256'] ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });
});

describe('verifiedClientCertificate', () => {
  it('names nobody on a plain TCP socket', () => {
    assert.equal(verifiedClientCertificate(new Socket()), undefined);
  });
});
