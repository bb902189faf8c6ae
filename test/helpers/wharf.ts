import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const projectRoot = resolve(import.meta.dirname, '..', '..');
const cliEntry = join(projectRoot, 'src', 'cli', 'main.ts');

export interface WharfOptions {
  /** Extra environment (REGISTRY_* overrides and the like). */
  env?: Record<string, string>;
  /** A YAML config file's text; written to the temp dir and passed to `wharf serve`. */
  configYaml?: string;
  /** Reuse a data directory (restart after a crash); a fresh temp dir otherwise. */
  dataDir?: string;
}

export interface WharfProcess {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, for skopeo's `docker://` references. */
  host: string;
  dataDir: string;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** SIGTERM and wait; keeps the data dir. */
  stop(): Promise<void>;
  /** SIGKILL and wait; keeps the data dir. */
  kill(): Promise<void>;
  /** Stop and remove the data dir. */
  close(): Promise<void>;
}

/** Starts `wharf serve` as a child process on a kernel-chosen port and waits until it listens. */
export async function startWharf(options: WharfOptions = {}): Promise<WharfProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'wharf-test-')));
  const args = ['--import', 'tsx', cliEntry, 'serve'];
  if (options.configYaml !== undefined) {
    const configPath = join(dataDir, `config-${process.pid}-${Date.now()}.yml`);
    await writeFile(configPath, options.configYaml);
    args.push(configPath);
  }
  const child = spawn(process.execPath, args, {
    cwd: projectRoot,
    env: {
      ...process.env,
      REGISTRY_HTTP_ADDR: '127.0.0.1:0',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dataDir,
      REGISTRY_LOG_LEVEL: 'info',
      REGISTRY_LOG_ACCESSLOG_DISABLED: 'true',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = await waitForListening(child, () => output);
  const exited = new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('exit', () => done());
  });
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return {
    url,
    host: new URL(url).host,
    dataDir,
    output: () => output,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    close: async () => {
      await signal('SIGTERM');
      if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function waitForListening(child: ChildProcess, output: () => string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => fail(new Error('wharf did not start within 30 s')), 30_000);
    const onData = () => {
      const match = /listening on (https?:\/\/[^\s"]+)/.exec(output());
      if (match?.[1]) {
        cleanup();
        resolvePromise(match[1]);
      }
    };
    const onExit = (code: number | null) => fail(new Error(`wharf exited with ${code} before listening`));
    const fail = (error: Error) => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${error.message}\n${output()}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}
