import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const binaries = '/usr/lib/postgresql/15/bin';

export interface Postgres {
  /** `postgres://postgres@127.0.0.1:PORT/`: append a database name. */
  baseUrl: string;
  port: number;
  /**
   * Creates an empty database and returns its URL. `icuLocale` (e.g. `en-US`) gives it that ICU
   * collation, which sorts text unlike bytes (`a` before `B`), as many production databases do.
   */
  createDatabase(options?: { name?: string; icuLocale?: string }): Promise<string>;
  /** Runs one statement in the named database (`postgres` for the server itself), for checks around Wharf. */
  query<Row extends pg.QueryResultRow>(database: string, text: string, values?: unknown[]): Promise<Row[]>;
  stop(): Promise<void>;
}

/**
 * Starts a throwaway PostgreSQL 15 (Debian's `postgresql` package) in a temp directory on a free
 * port below the ephemeral range: trust authentication for local TCP, fsync off. initdb refuses to
 * run as root, so as root the server runs as the `postgres` user.
 */
export async function startPostgres(): Promise<Postgres> {
  const base = await mkdtemp(join(tmpdir(), 'wharf-postgres-'));
  const data = join(base, 'data');
  const asServerUser = await serverUser();
  if (asServerUser) await chown(base, asServerUser.uid, asServerUser.gid);
  const command = async (binary: string, args: string[]) => {
    const path = join(binaries, binary);
    try {
      return asServerUser ? await run('runuser', ['-u', 'postgres', '--', path, ...args]) : await run(path, args);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !asServerUser) {
        throw new Error(`${path} not found: install PostgreSQL 15 (Debian: apt-get install postgresql)`);
      }
      throw error;
    }
  };
  try {
    await command('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ]);
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw new Error(`initdb failed (is Debian's postgresql package installed?): ${(error as Error).message}`);
  }

  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const options = `-p ${port} -k ${base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
    try {
      await command('pg_ctl', ['-D', data, '-l', join(base, 'server.log'), '-w', '-t', '30', 'start', '-o', options]);
      break;
    } catch (error) {
      const log = await readFile(join(base, 'server.log'), 'utf8').catch(() => '');
      if (attempt < 5 && /could not bind|Address already in use/.test(log)) continue;
      await rm(base, { recursive: true, force: true });
      throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${log}`);
    }
  }

  // A test process that dies without its after() hooks must not leave the server running.
  const stopOnExit = () => {
    const args = ['-D', data, '-m', 'immediate', 'stop'];
    const path = join(binaries, 'pg_ctl');
    try {
      if (asServerUser) execFileSync('runuser', ['-u', 'postgres', '--', path, ...args], { stdio: 'ignore' });
      else execFileSync(path, args, { stdio: 'ignore' });
    } catch {
      // Already stopped.
    }
    rmSync(base, { recursive: true, force: true });
  };
  process.once('exit', stopOnExit);

  const baseUrl = `postgres://postgres@127.0.0.1:${port}/`;
  const query = async <Row extends pg.QueryResultRow>(database: string, text: string, values: unknown[] = []) => {
    const client = new pg.Client({ connectionString: `${baseUrl}${database}` });
    await client.connect();
    try {
      return (await client.query<Row>(text, values)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    baseUrl,
    port,
    async createDatabase(options = {}) {
      const name = options.name ?? `wharf_${randomBytes(6).toString('hex')}`;
      const collation =
        options.icuLocale === undefined
          ? ''
          : ` TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '${options.icuLocale}'`;
      await query('postgres', `CREATE DATABASE "${name}"${collation}`);
      return `${baseUrl}${name}`;
    },
    query,
    async stop() {
      process.off('exit', stopOnExit);
      await command('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
      await rm(base, { recursive: true, force: true });
    },
  };
}

async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const { stdout } = await run('id', ['postgres']).catch(() => {
    throw new Error('there is no postgres user: install PostgreSQL 15 (Debian: apt-get install postgresql)');
  });
  const uid = /uid=(\d+)/.exec(stdout)?.[1];
  const gid = /gid=(\d+)/.exec(stdout)?.[1];
  if (uid === undefined || gid === undefined) throw new Error(`cannot read the postgres user's ids from: ${stdout}`);
  return { uid: Number(uid), gid: Number(gid) };
}

/** A port that is free now, between 20000 and 32767: below the ephemeral range and Ceph's 6800-7300. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
