import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The Debian package `docker-registry` (CNCF Distribution 2.x), the registry Wharf is measured against. */
export const referenceRegistryBinary = '/usr/bin/docker-registry';

export interface ReferenceRegistry {
  url: string;
  host: string;
  /** Its storage directory (config.yml and data/), kept by kill() for a restart on the same port. */
  root: string;
  output(): string;
  /** SIGKILL, keeping the storage: start again with `{ root, port }`. */
  kill(): Promise<void>;
  close(): Promise<void>;
}

export interface ReferenceRegistryOptions {
  /** Reuse the storage of a registry that was killed (its close() removes it). */
  root?: string;
  port?: number;
  /** Distribution's maintenance read-only mode: reads are served, pushes refused. */
  readOnly?: boolean;
}

/**
 * Starts CNCF Distribution on a free port with filesystem storage in a temp
 * dir, no auth and deletes enabled: a second, independent registry for
 * replication and compatibility tests.
 */
export async function startReferenceRegistry(options: ReferenceRegistryOptions = {}): Promise<ReferenceRegistry> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), 'reference-registry-')));
  const port = options.port ?? (await freePort());
  const configPath = join(root, 'config.yml');
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log: { level: warn }',
      'storage:',
      `  filesystem: { rootdirectory: ${join(root, 'data')} }`,
      '  delete: { enabled: true }',
      ...(options.readOnly ? ['  maintenance: { readonly: { enabled: true } }'] : []),
      `http: { addr: "127.0.0.1:${port}" }`,
      '',
    ].join('\n'),
  );
  const child = spawn(referenceRegistryBinary, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForV2(url, () => child.exitCode !== null);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}\n${output}`);
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    root,
    output: () => output,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function waitForV2(url: string, hasExited: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error('docker-registry exited before listening');
    try {
      const response = await fetch(`${url}/v2/`);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error('docker-registry did not answer /v2/ within 15 s');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}
