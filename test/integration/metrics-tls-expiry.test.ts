import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeServerCertificate } from '../../src/http/tls/certificate-directory.ts';
import { send } from '../helpers/http.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/** `wharf_tls_certificate_expiry_timestamp_seconds`: the served certificate's expiry, and none without TLS. */
function httpsText(url: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const call = request(url, { ca, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      response.on('error', reject);
    });
    call.on('error', reject);
    call.end();
  });
}

describe('TLS certificate expiry metric', () => {
  let dir: string;
  let tls: WharfProcess;
  let plain: WharfProcess;
  let ca: Buffer;
  let certificate: Buffer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-tls-metric-'));
    const files = await writeServerCertificate(join(dir, 'pki'), { hosts: ['127.0.0.1'], days: 20 });
    ca = await readFile(files.caCertificate);
    certificate = await readFile(files.serverCertificate);
    tls = await startWharf({
      env: { REGISTRY_HTTP_TLS_CERTIFICATE: files.serverCertificate, REGISTRY_HTTP_TLS_KEY: files.serverKey },
    });
    plain = await startWharf();
  });
  after(async () => {
    await Promise.all([tls?.close(), plain?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('reports when the served certificate expires', async () => {
    const exposition = await httpsText(`${tls.url}/metrics`, ca);
    const line = exposition
      .split('\n')
      .find((candidate) => candidate.startsWith('wharf_tls_certificate_expiry_timestamp_seconds{'));
    assert.ok(line, 'the gauge is exposed');
    const [series, value] = line.split(' ');
    assert.equal(series, 'wharf_tls_certificate_expiry_timestamp_seconds{certificate="server"}');
    assert.equal(Number(value), Date.parse(new X509Certificate(certificate).validTo) / 1000);
    const days = (Number(value) - Date.now() / 1000) / 86_400;
    assert.ok(days > 19 && days <= 20, `${days} days left`);
  });

  it('has no series without TLS, so no expiry alert can fire', async () => {
    const exposition = (await send(`${plain.url}/metrics`)).text();
    assert.match(exposition, /# TYPE wharf_tls_certificate_expiry_timestamp_seconds gauge/);
    assert.doesNotMatch(exposition, /^wharf_tls_certificate_expiry_timestamp_seconds\{/m);
  });
});
