import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TlsOptions } from './http-dispatcher.ts';

/**
 * TLS material from a directory laid out as docker's /etc/docker/certs.d/<host>/ and skopeo's
 * `--cert-dir`: every `*.crt` is a CA to trust, and `client.cert` + `client.key` (any `X.cert` with
 * its `X.key`) the client certificate to present.
 */
export async function loadCertDirectory(dir: string): Promise<Pick<TlsOptions, 'ca' | 'cert' | 'key'>> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    throw new Error(`cannot read the certificate directory ${dir}: ${(error as Error).message}`);
  }
  const ca = await Promise.all(names.filter((name) => name.endsWith('.crt')).map((name) => readFile(join(dir, name))));
  const certName = names.find((name) => name.endsWith('.cert'));
  const result: Pick<TlsOptions, 'ca' | 'cert' | 'key'> = ca.length > 0 ? { ca } : {};
  if (certName !== undefined) {
    const keyName = `${certName.slice(0, -'.cert'.length)}.key`;
    if (!names.includes(keyName)) throw new Error(`${join(dir, certName)} has no matching key ${keyName}`);
    result.cert = await readFile(join(dir, certName));
    result.key = await readFile(join(dir, keyName));
  }
  return result;
}
