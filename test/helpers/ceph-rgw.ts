import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { S3StorageConfig } from '../../src/config/config.ts';

const run = promisify(execFile);
const script = resolve(import.meta.dirname, 'ceph-rgw-up.sh');

export interface CephRgw {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  /** A complete storage.s3 config for a bucket on this gateway, with Distribution's defaults. */
  s3Config(overrides?: Partial<S3StorageConfig>): S3StorageConfig;
  /** The REGISTRY_STORAGE_S3_* variables for the same. */
  s3Environment(bucket: string, rootDirectory?: string): Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Ports for the gateway and the monitor: below the kernel's ephemeral range (32768 and up), where a
 * client connection's TIME-WAIT cannot hold them, and away from 6800-7300, where Ceph's OSDs bind.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/**
 * Boots a throwaway one-node Ceph cluster (monitor, memstore OSD, RADOS Gateway) in a temporary
 * directory and creates an S3 user; about 2 s. Needs Debian's ceph-mon, ceph-osd, radosgw and
 * ceph-common. Call stop() in after().
 */
export async function startCephRgw(): Promise<CephRgw> {
  const accessKey = `wharf${randomBytes(6).toString('hex')}`;
  const secretKey = randomBytes(20).toString('hex');
  let lastError: unknown;
  // Ports are probed, then bound by the daemons: another test process may take one in between.
  for (let attempt = 0; attempt < 3; attempt++) {
    const base = await mkdtemp(join(tmpdir(), 'wharf-ceph-'));
    const [rgwPort, monV1, monV2] = [await freePort(), await freePort(), await freePort()];
    const env = {
      ...process.env,
      CEPH_BASE: join(base, 'ceph'),
      RGW_PORT: String(rgwPort),
      MON_PORT_V1: String(monV1),
      MON_PORT_V2: String(monV2),
      OBJECTSTORE: 'memstore',
      S3_ACCESS_KEY: accessKey,
      S3_SECRET_KEY: secretKey,
    };
    const stopSync = () => {
      spawnSync('bash', [script, 'down'], { env: { ...env, FAST_STOP: '1' }, stdio: 'ignore' });
    };
    try {
      await run('bash', [script], { env, timeout: 120_000 });
    } catch (error) {
      lastError = error;
      stopSync();
      await rm(base, { recursive: true, force: true });
      continue;
    }
    // A test process that dies without after() must not leave daemons behind.
    process.once('exit', stopSync);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    const region = 'us-east-1';
    return {
      endpoint,
      accessKey,
      secretKey,
      region,
      s3Config: (overrides = {}) => ({
        region,
        regionendpoint: endpoint,
        forcepathstyle: true,
        bucket: 'wharf',
        rootdirectory: '',
        accesskey: accessKey,
        secretkey: secretKey,
        encrypt: false,
        secure: false,
        skipverify: false,
        chunksize: 10 * 1024 * 1024,
        multipartcopychunksize: 32 * 1024 * 1024,
        multipartcopymaxconcurrency: 100,
        multipartcopythresholdsize: 32 * 1024 * 1024,
        storageclass: 'STANDARD',
        maxrequestspersecond: 0,
        ...overrides,
      }),
      s3Environment: (bucket, rootDirectory) => ({
        REGISTRY_STORAGE_S3_REGION: region,
        REGISTRY_STORAGE_S3_REGIONENDPOINT: endpoint,
        REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
        REGISTRY_STORAGE_S3_BUCKET: bucket,
        REGISTRY_STORAGE_S3_ACCESSKEY: accessKey,
        REGISTRY_STORAGE_S3_SECRETKEY: secretKey,
        REGISTRY_STORAGE_S3_SECURE: 'false',
        ...(rootDirectory === undefined ? {} : { REGISTRY_STORAGE_S3_ROOTDIRECTORY: rootDirectory }),
      }),
      stop: async () => {
        process.off('exit', stopSync);
        await run('bash', [script, 'down'], { env: { ...env, FAST_STOP: '1' }, timeout: 30_000 });
        await rm(base, { recursive: true, force: true });
      },
    };
  }
  const detail = lastError as { message?: string; stderr?: string } | undefined;
  throw new Error(`Ceph RGW did not start: ${detail?.message ?? lastError}\n${detail?.stderr ?? ''}`);
}
