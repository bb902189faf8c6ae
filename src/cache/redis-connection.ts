import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import type { LuaScript } from './lua-script.ts';

export type RedisArgument = string | Buffer | number;

/** What Wharf asks of an ioredis client: a standalone, Sentinel or Cluster one alike. */
interface CommandClient {
  readonly status: string;
  call(...args: [command: string, ...args: RedisArgument[]]): Promise<unknown>;
  callBuffer(...args: [command: string, ...args: RedisArgument[]]): Promise<unknown>;
  on(event: 'ready' | 'error', listener: (error: Error) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** How long one kind of failure stays quiet in the log after it was reported. */
const failureLogIntervalMs = 10_000;
/** Reconnection attempts back off up to this delay, and go on for as long as the process runs. */
const maxReconnectDelayMs = 2_000;

/**
 * The process's connection to Redis, shared by the metadata cache, the login limiter and the job
 * locks. Redis is optional: commands fail at once while it is unreachable (no offline queue), and
 * every caller falls back to what it does without Redis, so an outage costs speed, not requests.
 */
export class RedisConnection {
  private readonly failuresLogged = new Map<string, number>();
  private readonly readyListeners: (() => void)[] = [];
  private outageReported = false;

  constructor(
    private readonly client: CommandClient,
    private readonly logger: Logger,
    readonly description: string,
  ) {
    client.on('ready', () => {
      this.logger.info({ redis: description }, this.outageReported ? 'Redis is reachable again' : 'connected to Redis');
      this.outageReported = false;
      for (const listener of this.readyListeners) listener();
    });
    client.on('error', (error) => {
      if (this.outageReported) return;
      this.outageReported = true;
      this.logger.warn({ redis: description, err: error }, 'Redis is unreachable; working without it until it is back');
    });
  }

  /** Whether commands can be sent now. */
  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** Called each time the connection becomes ready, after a start or an outage. */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  /** A command; bulk strings come back as strings. */
  command(name: string, ...args: RedisArgument[]): Promise<unknown> {
    return this.client.call(name, ...args);
  }

  /** Runs a script; bulk strings come back as Buffers. */
  async evaluate(script: LuaScript, keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown> {
    try {
      return await this.client.callBuffer('EVALSHA', script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.client.callBuffer('EVAL', script.source, keys.length, ...keys, ...args);
    }
  }

  /** Logs a failed operation, once per kind and interval, so an outage does not flood the log. */
  reportFailure(operation: string, error: unknown): void {
    const now = Date.now();
    if (now - (this.failuresLogged.get(operation) ?? 0) < failureLogIntervalMs) return;
    this.failuresLogged.set(operation, now);
    this.logger.warn({ redis: this.description, err: error }, `Redis ${operation} failed; continuing without Redis`);
  }

  async close(): Promise<void> {
    const quit = this.client.quit().catch(() => {});
    await Promise.race([quit, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    this.client.disconnect();
  }
}

interface HostPort {
  host: string;
  port: number;
}

/**
 * Connects as `redis` says: one server (`addr`, or one of `addrs`), a Sentinel master group
 * (`addrs` with `mastername`) or a Redis Cluster (several `addrs`). Returns at once; the connection
 * is made, and remade after an outage, in the background.
 */
export async function connectRedis(config: RedisConfig, logger: Logger): Promise<RedisConnection> {
  const addresses = (config.addr === undefined ? config.addrs : [config.addr]).map(parseAddress);
  const tls = await tlsOptions(config.tls);
  const common: RedisOptions = {
    username: config.username,
    password: config.password,
    connectTimeout: config.dialtimeout,
    // ioredis has one deadline per command, for the write and the reply together.
    commandTimeout: Math.max(config.readtimeout, config.writetimeout) || undefined,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, maxReconnectDelayMs),
    tls,
  };
  if (config.mastername !== undefined) {
    const client = new Redis({
      ...common,
      db: config.db,
      name: config.mastername,
      sentinels: addresses,
      sentinelUsername: config.sentinelusername,
      sentinelPassword: config.sentinelpassword,
      sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, maxReconnectDelayMs),
      enableTLSForSentinelMode: tls !== undefined,
      sentinelTLS: tls,
    });
    return new RedisConnection(client, logger, `sentinel ${config.mastername} via ${describe(addresses)}`);
  }
  const [first] = addresses;
  if (addresses.length === 1 && first) {
    const client = new Redis({ ...common, db: config.db, host: first.host, port: first.port });
    return new RedisConnection(client, logger, describe(addresses));
  }
  const cluster = new Cluster(addresses, {
    redisOptions: common,
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, maxReconnectDelayMs),
  });
  return new RedisConnection(cluster, logger, `cluster ${describe(addresses)}`);
}

/** `HOST:PORT` or `[IPV6]:PORT`, as the configuration validated it. */
function parseAddress(address: string): HostPort {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(address.slice(colon + 1)) };
}

function describe(addresses: readonly HostPort[]): string {
  return addresses.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)).join(',');
}

/**
 * TLS when `enabled` or a client certificate is configured. `clientcas` (Distribution's name) are
 * the authorities the server's certificate must chain to; without them, the system's.
 */
async function tlsOptions(tls: RedisConfig['tls']): Promise<ConnectionOptions | undefined> {
  if (!tls.enabled && tls.certificate === undefined) return undefined;
  const read = (path: string) => readFile(path, 'utf8');
  const [cert, key, ca] = await Promise.all([
    tls.certificate === undefined ? undefined : read(tls.certificate),
    tls.key === undefined ? undefined : read(tls.key),
    tls.clientcas.length === 0 ? undefined : Promise.all(tls.clientcas.map(read)),
  ]);
  return { cert, key, ca };
}
