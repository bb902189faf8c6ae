import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { CertificateAuthority } from '../../src/http/tls/certificate-authority.ts';

export const baseDn = 'dc=example,dc=org';
export const peopleDn = `ou=people,${baseDn}`;
export const groupsDn = `ou=groups,${baseDn}`;
export const serviceDn = `cn=wharf,ou=services,${baseDn}`;
export const servicePassword = 'service-secret';
const rootDn = `cn=admin,${baseDn}`;
const rootPassword = randomBytes(12).toString('hex');

export interface DirectoryUser {
  uid: string;
  password: string;
  /** cn of the groupOfNames entries the user is a member of. */
  groups: string[];
}

export interface SlapdOptions {
  users: DirectoryUser[];
  /** Also listen on ldaps:// and accept StartTLS, with a certificate for 127.0.0.1 and localhost. */
  tls?: boolean;
}

export interface Slapd {
  /** `ldap://127.0.0.1:PORT` */
  url: string;
  /** `ldaps://127.0.0.1:PORT` when started with tls. */
  ldapsUrl: string | undefined;
  /** PEM of the CA that signed the server certificate, when started with tls. */
  caPem: string | undefined;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a private OpenLDAP server (Debian's slapd) on kernel-chosen ports with its own config and
 * mdb database in a temp directory: suffix dc=example,dc=org, users under ou=people, groupOfNames
 * under ou=groups with the memberof overlay filling memberOf, a service account that may read
 * everything, anonymous users that may only bind.
 */
export async function startSlapd(options: SlapdOptions): Promise<Slapd> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-slapd-'));
  await mkdir(join(dir, 'data'));
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  let caPem: string | undefined;
  let tlsConfig = '';
  if (options.tls) {
    const pki = await createServerCertificate();
    caPem = pki.caPem;
    await writeFile(join(dir, 'server.crt'), pki.certificatePem);
    await writeFile(join(dir, 'server.key'), pki.keyPem, { mode: 0o600 });
    tlsConfig = `TLSCertificateFile ${join(dir, 'server.crt')}\nTLSCertificateKeyFile ${join(dir, 'server.key')}\n`;
  }
  await writeFile(join(dir, 'slapd.conf'), slapdConf(dir, tlsConfig));

  const listeners = [`ldap://127.0.0.1:${port}/`];
  if (tlsPort !== undefined) listeners.push(`ldaps://127.0.0.1:${tlsPort}/`);
  const child = spawn('slapd', ['-h', listeners.join(' '), '-f', join(dir, 'slapd.conf'), '-d', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });

  const stop = async () => {
    await terminate(child);
    await rm(dir, { recursive: true, force: true });
  };
  const url = `ldap://127.0.0.1:${port}`;
  try {
    await new Promise((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT' ? new Error('slapd is not installed (Debian: apt-get install slapd)') : error),
      );
    });
    await waitForPort(port, child, () => output);
    await loadDirectory(url, options.users);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    ldapsUrl: tlsPort === undefined ? undefined : `ldaps://127.0.0.1:${tlsPort}`,
    caPem,
    output: () => output,
    stop,
  };
}

function slapdConf(dir: string, tlsConfig: string): string {
  return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile ${join(dir, 'slapd.pid')}
argsfile ${join(dir, 'slapd.args')}
${tlsConfig}
database mdb
maxsize 10485760
suffix "${baseDn}"
rootdn "${rootDn}"
rootpw ${sshaHash(rootPassword)}
directory ${join(dir, 'data')}
index objectClass eq
index uid eq
index member eq
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="${serviceDn}" read
  by self read
  by * none
`;
}

/** The {SSHA} scheme slappasswd writes: base64(SHA-1(password + salt) + salt). */
export function sshaHash(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

/** Users first, then groups, so the memberof overlay sees every member exist. */
async function loadDirectory(url: string, users: DirectoryUser[]): Promise<void> {
  const client = new Client({ url, timeout: 5_000, connectTimeout: 5_000 });
  try {
    await client.bind(rootDn, rootPassword);
    await client.add(baseDn, { objectClass: ['top', 'dcObject', 'organization'], o: 'Example', dc: 'example' });
    for (const ou of ['people', 'groups', 'services']) {
      await client.add(`ou=${ou},${baseDn}`, { objectClass: ['top', 'organizationalUnit'], ou });
    }
    await client.add(serviceDn, {
      objectClass: ['top', 'person'],
      cn: 'wharf',
      sn: 'wharf',
      userPassword: sshaHash(servicePassword),
    });
    for (const user of users) {
      await client.add(userDn(user.uid), {
        objectClass: ['top', 'inetOrgPerson'],
        uid: user.uid,
        cn: user.uid,
        sn: user.uid,
        userPassword: sshaHash(user.password),
      });
    }
    const groupNames = [...new Set(users.flatMap((user) => user.groups))];
    for (const group of groupNames) {
      const members = users.filter((user) => user.groups.includes(group)).map((user) => userDn(user.uid));
      await client.add(`cn=${group},${groupsDn}`, { objectClass: ['top', 'groupOfNames'], cn: group, member: members });
    }
  } finally {
    await client.unbind();
  }
}

export function userDn(uid: string): string {
  const escaped = uid.replace(/[,+"\\<>;=]/g, (character) => `\\${character}`);
  return `uid=${escaped},${peopleDn}`;
}

/** A CA and a server certificate for 127.0.0.1 and localhost, signed by it. */
async function createServerCertificate(): Promise<{ caPem: string; certificatePem: string; keyPem: string }> {
  const ca = await CertificateAuthority.create({ commonName: 'Wharf Test LDAP CA', days: 1 });
  const server = await ca.issueServerCertificate({ hosts: ['127.0.0.1', 'localhost'], days: 1 });
  return { caPem: ca.certificatePem, certificatePem: server.certificatePem, keyPem: server.keyPem };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`slapd exited with ${child.exitCode}:\n${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`slapd did not listen on ${port}:\n${output()}`);
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
