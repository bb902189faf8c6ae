import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CertificateAuthority } from '../../src/http/tls/certificate-authority.ts';
import {
  loadCertificateAuthority,
  writeClientCertificate,
  writeServerCertificate,
} from '../../src/http/tls/certificate-directory.ts';

const dayMs = 86_400_000;

/** The text OpenSSL prints for one extension, e.g. "X509v3 Extended Key Usage: TLS Web Server Authentication". */
function extension(pem: string, name: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-ext', name], { input: pem, encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}

function opensslVerify(caPath: string, certificatePath: string, purpose: 'sslserver' | 'sslclient'): string {
  return execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', caPath, certificatePath], {
    encoding: 'utf8',
  }).trim();
}

describe('CertificateAuthority', () => {
  let ca: CertificateAuthority;

  before(async () => {
    ca = await CertificateAuthority.create({ commonName: 'Test CA', days: 100 });
  });

  it('creates a CA certificate that can sign certificates and nothing else', () => {
    const certificate = new X509Certificate(ca.certificatePem);
    assert.equal(certificate.ca, true);
    assert.equal(certificate.subject, 'CN=Test CA\nO=Wharf');
    assert.equal(
      extension(ca.certificatePem, 'basicConstraints'),
      'X509v3 Basic Constraints: critical CA:TRUE, pathlen:0',
    );
    assert.equal(
      extension(ca.certificatePem, 'keyUsage'),
      'X509v3 Key Usage: critical Digital Signature, Certificate Sign, CRL Sign',
    );
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('issues a server certificate naming every host as a DNS or IP subjectAltName, for serverAuth', async () => {
    const issued = await ca.issueServerCertificate({
      hosts: ['registry.example.com', '*.apps.example.com', '10.0.0.5', '::1'],
      days: 30,
    });
    const certificate = new X509Certificate(issued.certificatePem);
    assert.equal(certificate.subject, 'CN=registry.example.com');
    assert.equal(
      certificate.subjectAltName,
      'DNS:registry.example.com, DNS:*.apps.example.com, IP Address:10.0.0.5, IP Address:0:0:0:0:0:0:0:1',
    );
    assert.equal(certificate.ca, false);
    assert.equal(certificate.checkIssued(new X509Certificate(ca.certificatePem)), true);
    assert.equal(certificate.verify(new X509Certificate(ca.certificatePem).publicKey), true);
    assert.equal(
      extension(issued.certificatePem, 'extendedKeyUsage'),
      'X509v3 Extended Key Usage: TLS Web Server Authentication',
    );
    assert.equal(extension(issued.certificatePem, 'keyUsage'), 'X509v3 Key Usage: critical Digital Signature');
    assert.equal(certificate.checkHost('registry.example.com'), 'registry.example.com');
    assert.equal(certificate.checkIP('10.0.0.5'), '10.0.0.5');
    assert.equal(certificate.checkHost('other.example.com'), undefined);
    const validForMs = Date.parse(certificate.validTo) - Date.now();
    assert.ok(Math.abs(validForMs - 30 * dayMs) < 60_000, `valid for ${validForMs} ms`);
    assert.ok(Date.parse(certificate.validFrom) < Date.now() - 60_000, 'notBefore allows for clock skew');
  });

  it('refuses hosts written with a port or scheme, and no host at all', async () => {
    for (const host of ['registry.example.com:5000', 'https://registry.example.com', 'bad_host', '']) {
      await assert.rejects(ca.issueServerCertificate({ hosts: [host], days: 1 }), /neither a DNS name nor an IP/);
    }
    await assert.rejects(ca.issueServerCertificate({ hosts: [], days: 1 }), /at least one host/);
  });

  it('issues a client certificate with CN=name, for clientAuth', async () => {
    const issued = await ca.issueClientCertificate({ name: 'robot$ci+deploy', days: 10 });
    const certificate = new X509Certificate(issued.certificatePem);
    // What TLSSocket.getPeerCertificate() reports, unescaped.
    assert.equal(certificate.toLegacyObject().subject.CN, 'robot$ci+deploy');
    assert.equal(certificate.subjectAltName, undefined);
    assert.equal(
      extension(issued.certificatePem, 'extendedKeyUsage'),
      'X509v3 Extended Key Usage: TLS Web Client Authentication',
    );
    await assert.rejects(ca.issueClientCertificate({ name: 'x'.repeat(65), days: 1 }), /1 to 64 printable/);
    await assert.rejects(ca.issueClientCertificate({ name: 'a\nb', days: 1 }), /1 to 64 printable/);
  });

  it('never issues past its own expiry', async () => {
    const issued = await ca.issueServerCertificate({ hosts: ['localhost'], days: 1000 });
    assert.equal(new X509Certificate(issued.certificatePem).validTo, new X509Certificate(ca.certificatePem).validTo);
  });

  it('loads itself back, and refuses a key of another CA or a certificate that is no CA', async () => {
    const loaded = await CertificateAuthority.load(ca.certificatePem, ca.keyPem);
    const issued = await loaded.issueClientCertificate({ name: 'alice', days: 1 });
    assert.equal(
      new X509Certificate(issued.certificatePem).verify(new X509Certificate(ca.certificatePem).publicKey),
      true,
    );

    const other = await CertificateAuthority.create({ commonName: 'Other', days: 1 });
    await assert.rejects(CertificateAuthority.load(ca.certificatePem, other.keyPem), /does not belong/);
    const leaf = await ca.issueServerCertificate({ hosts: ['localhost'], days: 1 });
    await assert.rejects(CertificateAuthority.load(leaf.certificatePem, leaf.keyPem), /not a certificate authority/);
  });
});

describe('an RSA CA made with openssl', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-tls-rsa-'));
    execFileSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      join(dir, 'ca.crt'),
      '-subj',
      '/CN=Corp Root',
      '-days',
      '10',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('signs server and client certificates that openssl verifies', async () => {
    const files = await writeServerCertificate(dir, { hosts: ['registry.corp'], days: 5 });
    assert.equal(files.createdCa, false);
    assert.equal(
      opensslVerify(files.caCertificate, files.serverCertificate, 'sslserver'),
      `${files.serverCertificate}: OK`,
    );
    const client = await writeClientCertificate(dir, join(dir, 'bob'), { name: 'bob', days: 5 });
    assert.equal(opensslVerify(files.caCertificate, client.certificate, 'sslclient'), `${client.certificate}: OK`);
    assert.match(
      execFileSync('openssl', ['x509', '-noout', '-text', '-in', files.serverCertificate], { encoding: 'utf8' }),
      /sha256WithRSAEncryption/,
    );
  });
});

describe('certificate directory', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-tls-dir-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a CA and a server certificate, keys mode 0600, and openssl verifies the chain', async () => {
    const files = await writeServerCertificate(join(dir, 'pki'), { hosts: ['localhost', '127.0.0.1'], days: 7 });
    assert.equal(files.createdCa, true);
    for (const key of [files.caKey, files.serverKey]) assert.equal((await stat(key)).mode & 0o777, 0o600, key);
    for (const certificate of [files.caCertificate, files.serverCertificate]) {
      assert.equal((await stat(certificate)).mode & 0o777 & ~0o644, 0, certificate);
    }
    assert.equal(
      opensslVerify(files.caCertificate, files.serverCertificate, 'sslserver'),
      `${files.serverCertificate}: OK`,
    );
  });

  it('reuses the CA on the next run and replaces only the server certificate', async () => {
    const first = await writeServerCertificate(join(dir, 'reuse'), { hosts: ['a.test'], days: 7 });
    const caBefore = await readFile(first.caCertificate);
    const caKeyBefore = await readFile(first.caKey);
    const serverBefore = await readFile(first.serverCertificate);
    const second = await writeServerCertificate(join(dir, 'reuse'), { hosts: ['b.test'], days: 7 });
    assert.equal(second.createdCa, false);
    assert.deepEqual(await readFile(second.caCertificate), caBefore);
    assert.deepEqual(await readFile(second.caKey), caKeyBefore);
    const serverAfter = await readFile(second.serverCertificate);
    assert.notDeepEqual(serverAfter, serverBefore);
    assert.equal(new X509Certificate(serverAfter).subjectAltName, 'DNS:b.test');
    assert.equal(
      opensslVerify(second.caCertificate, second.serverCertificate, 'sslserver'),
      `${second.serverCertificate}: OK`,
    );
  });

  it('writes nothing for a bad host', async () => {
    await assert.rejects(writeServerCertificate(join(dir, 'bad'), { hosts: ['host:5000'], days: 7 }), /host:5000/);
    await assert.rejects(stat(join(dir, 'bad')), { code: 'ENOENT' });
  });

  it('refuses a directory holding only half a CA instead of overwriting it', async () => {
    const files = await writeServerCertificate(join(dir, 'half'), { hosts: ['a.test'], days: 7 });
    await rm(files.caKey);
    await assert.rejects(
      writeServerCertificate(join(dir, 'half'), { hosts: ['a.test'], days: 7 }),
      /ca\.key is missing/,
    );
    await writeFile(files.caKey, 'garbage');
    await assert.rejects(loadCertificateAuthority(join(dir, 'half')), /cannot use the CA/);
  });

  it('writes a client certificate pair named after the client, with the CA beside it', async () => {
    const server = await writeServerCertificate(join(dir, 'mtls'), { hosts: ['localhost'], days: 7 });
    const client = await writeClientCertificate(server.dir, join(dir, 'alice'), { name: 'alice', days: 7 });
    assert.equal(client.certificate, join(dir, 'alice', 'alice.cert'));
    assert.equal(client.key, join(dir, 'alice', 'alice.key'));
    assert.equal((await stat(client.key)).mode & 0o777, 0o600);
    assert.deepEqual(await readFile(client.caCertificate), await readFile(server.caCertificate));
    assert.equal(opensslVerify(server.caCertificate, client.certificate, 'sslclient'), `${client.certificate}: OK`);

    const robot = await writeClientCertificate(server.dir, join(dir, 'robot'), { name: '../robot$ci', days: 7 });
    assert.equal(robot.certificate, join(dir, 'robot', '__robot_ci.cert'));
    assert.equal(new X509Certificate(await readFile(robot.certificate)).toLegacyObject().subject.CN, '../robot$ci');
  });

  it('needs a CA to sign client certificates', async () => {
    await assert.rejects(
      writeClientCertificate(join(dir, 'nothing-here'), join(dir, 'out'), { name: 'alice', days: 1 }),
      /no CA in .*nothing-here/,
    );
  });
});
