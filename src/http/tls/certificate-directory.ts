import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { CertificateAuthority, serverNames } from './certificate-authority.ts';

/** File names inside a certificate directory; `*.crt` is a CA and `*.cert` + `*.key` a client pair to Docker and Podman. */
export const certificateFiles = {
  caCertificate: 'ca.crt',
  caKey: 'ca.key',
  serverCertificate: 'server.crt',
  serverKey: 'server.key',
} as const;

/** The CA is long-lived: replacing it means touching every client, so it outlives many server certificates. */
const caValidityDays = 3650;

export interface ServerCertificateFiles {
  dir: string;
  caCertificate: string;
  caKey: string;
  serverCertificate: string;
  serverKey: string;
  /** False when ca.crt and ca.key already existed and signed the new server certificate. */
  createdCa: boolean;
}

export interface ClientCertificateFiles {
  dir: string;
  /** `<name>.cert`: Docker and Podman pick up every `*.cert` with its `*.key` in certs.d. */
  certificate: string;
  key: string;
  /** The CA certificate, copied beside the pair so the directory can be used as a certs.d entry as is. */
  caCertificate: string;
}

/**
 * Writes a server certificate for `hosts` into `dir`, signed by the CA found there (ca.crt +
 * ca.key), or by a new CA written there first. Private keys are created mode 0600; every file is
 * replaced atomically, so a registry watching server.crt never reads half a file.
 */
export async function writeServerCertificate(
  dir: string,
  options: { hosts: readonly string[]; days: number },
): Promise<ServerCertificateFiles> {
  // Checked before anything is written: a typo must not leave a new CA behind.
  serverNames(options.hosts);
  if (!Number.isInteger(options.days) || options.days < 1) throw new Error(`invalid validity: ${options.days} days`);
  const root = resolve(dir);
  await mkdir(root, { recursive: true, mode: 0o700 });
  const paths = {
    caCertificate: join(root, certificateFiles.caCertificate),
    caKey: join(root, certificateFiles.caKey),
    serverCertificate: join(root, certificateFiles.serverCertificate),
    serverKey: join(root, certificateFiles.serverKey),
  };
  let ca = await loadCertificateAuthority(root);
  const createdCa = ca === undefined;
  if (!ca) {
    ca = await CertificateAuthority.create({
      commonName: `Wharf CA ${options.hosts[0] ?? hostname()}`.slice(0, 64),
      days: caValidityDays,
    });
    await writeAtomically(paths.caKey, ca.keyPem, 0o600);
    await writeAtomically(paths.caCertificate, ca.certificatePem, 0o644);
  }
  const server = await ca.issueServerCertificate(options);
  // Key first: a watcher that sees the new certificate before its key retries on the key's change.
  await writeAtomically(paths.serverKey, server.keyPem, 0o600);
  await writeAtomically(paths.serverCertificate, server.certificatePem, 0o644);
  return { dir: root, ...paths, createdCa };
}

/** Writes `<name>.cert` and `<name>.key` into `outDir`, signed by the CA in `caDir`, plus a copy of ca.crt. */
export async function writeClientCertificate(
  caDir: string,
  outDir: string,
  options: { name: string; days: number },
): Promise<ClientCertificateFiles> {
  const caRoot = resolve(caDir);
  const ca = await loadCertificateAuthority(caRoot);
  if (!ca) {
    throw new Error(`no CA in ${caRoot}: expected ${certificateFiles.caCertificate} and ${certificateFiles.caKey}`);
  }
  const fileStem = options.name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  const root = resolve(outDir);
  await mkdir(root, { recursive: true, mode: 0o700 });
  const issued = await ca.issueClientCertificate(options);
  const files = {
    dir: root,
    certificate: join(root, `${fileStem}.cert`),
    key: join(root, `${fileStem}.key`),
    caCertificate: join(root, certificateFiles.caCertificate),
  };
  await writeAtomically(files.key, issued.keyPem, 0o600);
  await writeAtomically(files.certificate, issued.certificatePem, 0o644);
  if (files.caCertificate !== join(caRoot, certificateFiles.caCertificate)) {
    await copyFile(join(caRoot, certificateFiles.caCertificate), files.caCertificate);
  }
  return files;
}

/** The CA in `dir`, undefined when it has none; a half-present or mismatched CA is an error, never overwritten. */
export async function loadCertificateAuthority(dir: string): Promise<CertificateAuthority | undefined> {
  const certificatePath = join(dir, certificateFiles.caCertificate);
  const keyPath = join(dir, certificateFiles.caKey);
  const [certificatePem, keyPem] = await Promise.all([readOptional(certificatePath), readOptional(keyPath)]);
  if (certificatePem === undefined && keyPem === undefined) return undefined;
  if (certificatePem === undefined || keyPem === undefined) {
    const missing = certificatePem === undefined ? certificatePath : keyPath;
    throw new Error(`${missing} is missing while its counterpart exists; restore it or move both away`);
  }
  try {
    return await CertificateAuthority.load(certificatePem, keyPem);
  } catch (error) {
    throw new Error(`cannot use the CA in ${dir}: ${(error as Error).message}`);
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // The mode applies at creation, so a key is never readable by others, not even for a moment.
    await writeFile(temporary, content, { mode, flag: 'wx' });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
