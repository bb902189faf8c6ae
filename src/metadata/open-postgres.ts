import type { ConnectionOptions } from 'node:tls';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig, PostgresSslMode } from '../config/config.ts';
import type { Database } from './schema.ts';

const int8 = 20;

/**
 * bigint columns (sizes, epoch milliseconds, counts) read back as numbers, as they do on SQLite.
 * Every such value is far below 2^53. Per pool, so other pg users in the process are unaffected.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === int8 && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

export interface PostgresOptions {
  /** Told about errors of idle pooled connections (a server restart); the next query reconnects. */
  onIdleError?: (error: Error) => void;
}

/** A pool of PostgreSQL connections as the config describes them; nothing is migrated here. */
export function connectPostgres(config: DatabaseConfig, options: PostgresOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    ...postgresConnection(config),
    max: config.pool.max,
    connectionTimeoutMillis: 10_000,
    application_name: 'wharf',
    ...(config.statementtimeout === undefined ? {} : { statement_timeout: config.statementtimeout }),
    types,
  });
  // Without a listener an idle connection that breaks would crash the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Where to connect: the URL with the password and sslmode keys applied, or the separate keys. */
export function postgresConnection(config: DatabaseConfig): pg.PoolConfig {
  if (config.url !== undefined) {
    const url = new URL(config.url);
    if (config.password !== undefined) url.password = encodeURIComponent(config.password);
    if (config.sslmode !== undefined) url.searchParams.set('sslmode', config.sslmode);
    // pg reads require and verify-ca as verify-full unless asked for libpq's meanings.
    if (url.searchParams.has('sslmode') && !url.searchParams.has('uselibpqcompat')) {
      url.searchParams.set('uselibpqcompat', 'true');
    }
    return { connectionString: url.href };
  }
  return {
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.dbname,
    ssl: tlsOptions(config.sslmode ?? 'disable'),
  };
}

function tlsOptions(mode: PostgresSslMode): false | ConnectionOptions {
  switch (mode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
  }
}

/** The URL or host to show in logs and `wharf db status`, without the password. */
export function describePostgres(config: DatabaseConfig): string {
  if (config.url !== undefined) {
    const url = new URL(config.url);
    if (url.password !== '') url.password = '***';
    return url.href;
  }
  const user = config.user === undefined ? '' : `${config.user}@`;
  const dbname = config.dbname ?? config.user ?? '';
  const port = config.port ?? 5432;
  const host = config.host ?? '';
  // A socket directory goes in the query, as libpq writes it.
  if (host.startsWith('/')) return `postgres://${user}/${dbname}?host=${host}&port=${port}`;
  return `postgres://${user}${host}:${port}/${dbname}`;
}
