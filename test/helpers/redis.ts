import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';

/**
 * Throwaway Redis servers for tests (Debian's redis-server and redis-sentinel): each in its own
 * temp directory, without persistence, on a random port below the kernel's ephemeral range (a port
 * in that range may be held by a TIME-WAIT connection).
 */

export interface RedisTlsFiles {
  certificate: string;
  key: string;
  /** Clients must present a certificate signed by this CA. */
  ca: string;
  /** What client() presents. */
  clientCertificate: string;
  clientKey: string;
}

export interface RedisServer {
  port: number;
  /** `127.0.0.1:PORT` */
  address: string;
  output(): string;
  /** A new client connection; close it with quit(). */
  client(): Redis;
  /** SIGKILL: the server is gone at once, as in a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

export interface RedisSentinel {
  port: number;
  address: string;
  masterName: string;
  master: RedisServer;
  /** A replica the sentinel promotes when the master fails. */
  replica: RedisServer;
  output(): string;
  stop(): Promise<void>;
}

const startTimeoutMs = 15_000;

export interface RedisOptions {
  tls?: RedisTlsFiles;
  /** Replicates this master. */
  replicaOf?: RedisServer;
  /** A node of a Redis Cluster, its bus on port - 10000. */
  clusterNode?: boolean;
}

export function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  return withFreshPort(async (port) => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-redis-'));
    const listen = options.tls
      ? [
          ...['--port', '0', '--tls-port', String(port)],
          ...['--tls-cert-file', options.tls.certificate, '--tls-key-file', options.tls.key],
          ...['--tls-ca-cert-file', options.tls.ca, '--tls-auth-clients', 'yes'],
        ]
      : ['--port', String(port)];
    const args = [
      ...listen,
      ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      ...['--dir', dir, '--protected-mode', 'no', '--loglevel', 'notice'],
      ...(options.replicaOf ? ['--replicaof', '127.0.0.1', String(options.replicaOf.port)] : []),
      ...(options.clusterNode
        ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(port - 10_000)]
        : []),
    ];
    let server = await launch('redis-server', args, /Ready to accept connections/);
    return {
      port,
      address: `127.0.0.1:${port}`,
      output: () => server.output(),
      client: () => new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, tls: clientTls(options.tls) }),
      kill: () => server.kill('SIGKILL'),
      restart: async () => {
        await server.kill('SIGKILL');
        server = await launch('redis-server', args, /Ready to accept connections/);
      },
      stop: async () => {
        await server.kill('SIGTERM');
        await rm(dir, { recursive: true, force: true });
      },
    };
  });
}

/**
 * A master, a replica and one sentinel watching them under `masterName` (quorum 1): the sentinel
 * promotes the replica a second after the master stops answering.
 */
export async function startRedisSentinel(masterName = 'wharf-master'): Promise<RedisSentinel> {
  const master = await startRedis();
  const servers = [master];
  try {
    const replica = await startRedis({ replicaOf: master });
    servers.push(replica);
    await waitForReplication(replica);
    return await withFreshPort(async (port) => {
      const dir = await mkdtemp(join(tmpdir(), 'wharf-sentinel-'));
      const config = join(dir, 'sentinel.conf');
      // Sentinel rewrites its config file as it learns, so it gets a writable copy of its own.
      await writeFile(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 5000`,
          '',
        ].join('\n'),
      );
      const sentinel = await launch('redis-sentinel', [config], /\+slave slave/);
      return {
        port,
        address: `127.0.0.1:${port}`,
        masterName,
        master,
        replica,
        output: () => sentinel.output(),
        stop: async () => {
          await sentinel.kill('SIGTERM');
          await rm(dir, { recursive: true, force: true });
          for (const server of servers) await server.stop();
        },
      };
    });
  } catch (error) {
    for (const server of servers) await server.stop();
    throw error;
  }
}

async function waitForReplication(replica: RedisServer): Promise<void> {
  const client = replica.client();
  try {
    const deadline = Date.now() + startTimeoutMs;
    while (!/master_link_status:up/.test(await client.info('replication'))) {
      if (Date.now() > deadline) throw new Error(`replica ${replica.address} did not connect to its master`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await client.quit();
  }
}

function clientTls(files: RedisTlsFiles | undefined) {
  if (!files) return undefined;
  const read = (path: string) => readFileSync(path, 'utf8');
  return { ca: read(files.ca), cert: read(files.clientCertificate), key: read(files.clientKey) };
}

export interface RedisCluster {
  nodes: RedisServer[];
  /** `127.0.0.1:PORT` of each node. */
  addresses: string[];
  /** A new cluster client; close it with quit(). */
  client(): Cluster;
  stop(): Promise<void>;
}

/** Three masters sharing the 16384 slots, no replicas. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    for (const node of nodes) await node.stop();
  };
  try {
    for (let index = 0; index < 3; index++) nodes.push(await startRedis({ clusterNode: true }));
    const addresses = nodes.map((node) => node.address);
    const created = await run('redis-cli', [
      ...['--cluster', 'create', ...addresses],
      ...['--cluster-replicas', '0', '--cluster-yes'],
    ]);
    if (!/All 16384 slots covered/.test(created)) throw new Error(`redis-cli --cluster create:\n${created}`);
    for (const node of nodes) {
      const client = node.client();
      try {
        const deadline = Date.now() + startTimeoutMs;
        while (!/cluster_state:ok/.test(String(await client.call('CLUSTER', 'INFO')))) {
          if (Date.now() > deadline) throw new Error(`cluster node ${node.address} did not become ok`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        await client.quit();
      }
    }
    return {
      nodes,
      addresses,
      client: () => new Cluster(nodes.map((node) => ({ host: '127.0.0.1', port: node.port }))),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Launched {
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

class PortInUseError extends Error {}

/** Runs `start` on random ports until one is free (another process may have taken the first). */
async function withFreshPort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    // 20000-29999 (a cluster bus 10000 lower): below the ephemeral range (32768-60999), clear of Ceph's 6800-7300.
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    try {
      return await start(port);
    } catch (error) {
      if (!(error instanceof PortInUseError) || attempt >= 5) throw error;
    }
  }
}

function launch(command: string, args: string[], ready: RegExp): Promise<Launched> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return new Promise((resolve, reject) => {
    let started = false;
    const timer = setTimeout(
      () => fail(new Error(`${command} did not start within ${startTimeoutMs} ms`)),
      startTimeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!started && ready.test(output)) {
        started = true;
        cleanup();
        resolve({ output: () => output, kill });
      }
    };
    const onExit = (code: number | null) => {
      const message = `${command} exited with ${code}:\n${output}`;
      fail(/Address already in use/.test(output) ? new PortInUseError(message) : new Error(message));
    };
    const onError = (error: NodeJS.ErrnoException) => {
      const missing = `${command} is not installed (Debian: apt-get install redis-server redis-sentinel)`;
      fail(error.code === 'ENOENT' ? new Error(missing) : error);
    };
    const fail = (error: Error) => {
      cleanup();
      child.kill('SIGKILL');
      reject(error);
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: startTimeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stdout}${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}
