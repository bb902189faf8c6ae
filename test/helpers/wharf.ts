import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';

const projectRoot = resolve(import.meta.dirname, '..', '..');
const cliEntry = join(projectRoot, 'src', 'cli', 'main.ts');
const launcher = join(projectRoot, 'bin', 'wharf.js');

export interface WharfOptions {
  /** Extra environment (REGISTRY_* overrides and the like). */
  env?: Record<string, string>;
  /** A YAML config file's text; written to the temp dir and passed to `wharf serve`. */
  configYaml?: string;
  /** Reuse a data directory (restart after a crash); a fresh temp dir otherwise. */
  dataDir?: string;
  /**
   * Keep blobs on the filesystem in the data directory (the default); false for a test that
   * configures another storage driver, since only one may be configured.
   */
  filesystemStorage?: boolean;
  /**
   * Start through bin/wharf.js, as `npm start` and installed users do (the compiled build when it is current),
   * instead of the TypeScript sources under tsx.
   */
  viaLauncher?: boolean;
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
  const database = usesOwnDatabase(options) ? undefined : await testDatabaseEnv(dataDir);
  const scaleOut = usesOwnStorage(options) ? undefined : scaleOutEnv(dataDir);
  const args = options.viaLauncher ? [launcher, 'serve'] : ['--import', 'tsx', cliEntry, 'serve'];
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
      ...(options.filesystemStorage === false || scaleOut
        ? {}
        : { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dataDir }),
      REGISTRY_LOG_LEVEL: 'info',
      REGISTRY_LOG_ACCESSLOG_DISABLED: 'true',
      ...database,
      ...scaleOut,
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
      if (options.dataDir === undefined) {
        await rm(dataDir, { recursive: true, force: true });
        if (database !== undefined) await dropTestDatabase(dataDir);
      }
    },
  };
}

/**
 * With WHARF_TEST_DATABASE_URL_BASE set (`postgres://postgres@127.0.0.1:PORT/`), each server gets a
 * PostgreSQL database of its own instead of SQLite, named after its data directory so that a
 * restart on the same directory finds its metadata again. Returns the variables that select it.
 */
export async function testDatabaseEnv(dataDir: string): Promise<Record<string, string> | undefined> {
  const base = process.env.WHARF_TEST_DATABASE_URL_BASE;
  if (base === undefined || base === '') return undefined;
  const name = testDatabaseName(dataDir);
  await maintenanceQuery(base, `CREATE DATABASE "${name}"`).catch((error: { code?: string }) => {
    if (error.code !== '42P04') throw error; // it exists: a restart
  });
  return { REGISTRY_DATABASE_URL: new URL(name, base).href };
}

async function dropTestDatabase(dataDir: string): Promise<void> {
  const base = process.env.WHARF_TEST_DATABASE_URL_BASE;
  if (base) await maintenanceQuery(base, `DROP DATABASE IF EXISTS "${testDatabaseName(dataDir)}" WITH (FORCE)`);
}

/** A test that chooses its database (or configures one in its YAML) keeps it. */
/**
 * The scale-out suite (`npm run test:scaleout`) sets WHARF_TEST_S3_ENV (the REGISTRY_STORAGE_S3_*
 * variables of a shared gateway, as JSON) and WHARF_TEST_REDIS_ADDR: each server then keeps its
 * blobs under its own prefix of the bucket and caches metadata in Redis, and gets an http.secret
 * of its own that survives its restarts.
 */
function scaleOutEnv(dataDir: string): Record<string, string> | undefined {
  const s3 = process.env.WHARF_TEST_S3_ENV;
  if (s3 === undefined || s3 === '') return undefined;
  const name = testDatabaseName(dataDir);
  const env: Record<string, string> = {
    ...(JSON.parse(s3) as Record<string, string>),
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: `/${name}`,
    // Blob bytes pass through Wharf, so tests see its headers; redirects are tested on their own.
    REGISTRY_STORAGE_REDIRECT_DISABLE: 'true',
    REGISTRY_HTTP_SECRET: name,
  };
  if (!process.env.WHARF_TEST_DATABASE_URL_BASE) env.REGISTRY_DATABASE_PATH = join(dataDir, 'wharf.db');
  const redis = process.env.WHARF_TEST_REDIS_ADDR;
  if (redis) {
    env.REGISTRY_REDIS_ADDR = redis;
    env.REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR = 'redis';
  }
  return env;
}

function usesOwnStorage(options: WharfOptions): boolean {
  return (
    options.filesystemStorage === false ||
    Object.keys(options.env ?? {}).some(
      (name) => name.startsWith('REGISTRY_STORAGE_S3') || name.startsWith('REGISTRY_REDIS'),
    ) ||
    /^(storage|redis):/m.test(options.configYaml ?? '')
  );
}

function usesOwnDatabase(options: WharfOptions): boolean {
  return (
    Object.keys(options.env ?? {}).some((name) => name.startsWith('REGISTRY_DATABASE')) ||
    /^database:/m.test(options.configYaml ?? '')
  );
}

function testDatabaseName(dataDir: string): string {
  return `wharf_test_${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16)}`;
}

async function maintenanceQuery(base: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: new URL('postgres', base).href });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
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
