import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type ServerKind = 'reference' | 'wharf';

export interface RegistryServer {
  kind: ServerKind;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The server process itself (the Go binary, or the node process running Wharf). */
  pid: number;
  /** The last lines the process printed, for error messages. */
  output(): string;
  /** SIGTERM (SIGKILL after 10 s) and remove its storage. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Directory for V8 CPU profiles of the Wharf process (written when it exits). */
  cpuProfileDir?: string;
  /** Further environment of a Wharf server (the replication scenario turns on projects mode). */
  env?: Record<string, string>;
}

const referenceBinary = '/usr/bin/docker-registry';
const projectRoot = resolve(import.meta.dirname, '..');
const startTimeoutMs = 90_000;
const outputKept = 16 * 1024;
const running = new Set<{ child: ChildProcess; dataDir: string }>();

export function startServer(kind: ServerKind, options: StartOptions = {}): Promise<RegistryServer> {
  return kind === 'reference' ? startReference() : startWharf(options);
}

/** CNCF Distribution as Debian ships it, on filesystem storage in a temp dir. */
async function startReference(): Promise<RegistryServer> {
  ensureReferenceInstalled();
  const dataDir = await mkdtemp(join(tmpdir(), 'wharf-bench-reference-'));
  const port = await freePort();
  const configPath = join(dataDir, 'config.yml');
  // The in-memory blob descriptor cache is what the registry:2 image ships with.
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dataDir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn(referenceBinary, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const server = track('reference', child, dataDir);
  server.url = `http://127.0.0.1:${port}`;
  await waitForApi(server, child);
  return server;
}

/**
 * `wharf serve` on embedded defaults and a temp data dir, run as `npm start` runs it: the compiled build,
 * which `npm run bench` makes first. It is started directly rather than through bin/wharf.js, which would fall
 * back to the TypeScript sources if one were edited during the run. The port is chosen here rather than read from the
 * `listening on` line, because that line is an info-level log and the server runs at level error.
 */
async function startWharf(options: StartOptions): Promise<RegistryServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'wharf-bench-wharf-'));
  const port = await freePort();
  const nodeFlags = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  const child = spawn(process.execPath, [...nodeFlags, join('dist', 'cli', 'main.js'), 'serve'], {
    cwd: projectRoot,
    env: {
      ...process.env,
      REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dataDir,
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_LOG_LEVEL: 'error',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = track('wharf', child, dataDir);
  server.url = `http://127.0.0.1:${port}`;
  await waitForApi(server, child);
  return server;
}

function track(kind: ServerKind, child: ChildProcess, dataDir: string): RegistryServer {
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-outputKept);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const entry = { child, dataDir };
  running.add(entry);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    kind,
    url: '',
    pid: child.pid ?? 0,
    output: () => output,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      running.delete(entry);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function waitForApi(server: RegistryServer, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${server.url}/v2/`);
      await response.arrayBuffer();
      if (response.status === 200 || response.status === 401) return;
    } catch {
      // not accepting connections yet
    }
    await pollStep(server, child, deadline);
  }
}

async function pollStep(server: RegistryServer, child: ChildProcess, deadline: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(
      `${server.kind} exited (${child.exitCode ?? child.signalCode}) before serving:\n${server.output()}`,
    );
  }
  if (Date.now() > deadline) {
    await server.close();
    throw new Error(`${server.kind} did not answer GET /v2/ within ${startTimeoutMs / 1000} s:\n${server.output()}`);
  }
  await sleep(100);
}

function ensureReferenceInstalled(): void {
  if (existsSync(referenceBinary)) return;
  process.stderr.write(`${referenceBinary} is missing; installing Debian's docker-registry\n`);
  const install = spawnSync('apt-get', ['install', '-y', 'docker-registry'], { stdio: ['ignore', 2, 2] });
  if (install.status !== 0 || !existsSync(referenceBinary)) {
    throw new Error('apt-get install -y docker-registry failed; install it and run again');
  }
}

/** A free port below the kernel's ephemeral range (32768–60999), so client sockets never collide with it. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((done) => {
      const probe = createServer();
      probe.once('error', () => done(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
    });
    if (free) return port;
  }
}

/** Last resort on exit: no server outlives the benchmark, no temp dir is left behind. */
export function killAllServers(): void {
  for (const { child, dataDir } of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
  running.clear();
}
