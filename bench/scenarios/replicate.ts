import { spawn } from 'node:child_process';
import { Blob, digestOf } from '../blob-data.ts';
import { connectionPool } from '../http-client.ts';
import { RegistryClient } from '../registry-client.ts';
import { MB, MiB, type Scenario } from '../scenario.ts';
import { type RegistryServer, startServer } from '../servers.ts';
import { ociManifestType } from './seed-image.ts';

export interface ReplicateSettings {
  images: number;
  /** Each image's own layer. */
  uniqueLayer: number;
  /** Two base layers, each shared by half of the images. */
  sharedLayer: number;
}

const repository = 'bench/app';
const admin = { username: 'admin', password: 'bench-admin-password' };
const authorization = `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`;

/**
 * Replicates `images` tags of one repository (random layers, two bases shared by half of them
 * each) from Distribution into a fresh Wharf each round: in the reference column with
 * `skopeo sync --src docker --dest docker`, in the Wharf column with a pull-mode replication
 * policy run by Wharf itself. Both columns write into Wharf (projects mode, as the management API
 * needs), so the figure compares the two ways of replicating, not the two servers.
 */
export function replicate(settings: ReplicateSettings): Scenario {
  const totalBytes = settings.images * settings.uniqueLayer + 2 * settings.sharedLayer;
  let source: Promise<{ server: RegistryServer; host: string }> | undefined;
  return {
    id: `replicate-${settings.images}-images`,
    title: `replicate ${settings.images} images (${Math.round(totalBytes / MiB)} MiB) from Distribution into Wharf: skopeo sync (ref) vs a pull policy (wharf)`,
    unit: 'MB/s',
    target: { kind: 'min-ratio', ratio: 1 },
    servers: { reference: 'wharf', wharf: 'wharf' },
    wharfEnv: {
      REGISTRY_AUTH_PROJECTS_ENABLED: 'true',
      REGISTRY_AUTH_AUTOCREATEPROJECTS: 'true',
      WHARF_ADMIN_PASSWORD: admin.password,
    },
    freshServerEachRound: true,
    async prepare(destination, contender) {
      source ??= seedSource(settings);
      const { host } = await source;
      const units = totalBytes / MB;
      if (contender === 'reference') {
        return {
          async measure() {
            await skopeoSync(`${host}/${repository}`, `${new URL(destination.url).host}/mirror`);
            return { units };
          },
        };
      }
      const policyId = await createPolicy(destination.url, host);
      return {
        async measure() {
          const started = await api<{ id: number }>(destination.url, 'POST', '/replication/executions', {
            policy_id: policyId,
          });
          const done = await waitForExecution(destination.url, started.id);
          if (done.status !== 'succeeded' || done.succeeded !== settings.images) {
            throw new Error(`replication ${done.status}: ${done.status_text}`);
          }
          return { units };
        },
      };
    },
  };
}

/** Distribution holding the images, started once and shared by every round of both columns. */
async function seedSource(settings: ReplicateSettings): Promise<{ server: RegistryServer; host: string }> {
  const server = await startServer('reference');
  const client = new RegistryClient(server.url, connectionPool(4));
  const shared = [Blob.generate(settings.sharedLayer), Blob.generate(settings.sharedLayer)];
  for (const blob of shared) await client.pushMonolithic(repository, blob);
  for (let index = 0; index < settings.images; index++) {
    const base = shared[index % 2] as Blob;
    const own = Blob.generate(settings.uniqueLayer);
    await client.pushMonolithic(repository, own);
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [base.digest, own.digest] },
        config: { Labels: { image: String(index) } },
      }),
    );
    const configDigest = digestOf(config);
    await client.pushBytes(repository, config, configDigest);
    const layer = (blob: Blob) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      size: blob.size,
      digest: blob.digest,
    });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: ociManifestType,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: configDigest },
        layers: [layer(base), layer(own)],
      }),
    );
    await client.putManifest(repository, `v${String(index + 1).padStart(2, '0')}`, manifest, ociManifestType);
  }
  return { server, host: new URL(server.url).host };
}

function skopeoSync(source: string, destination: string): Promise<void> {
  const args = [
    'sync',
    '--src',
    'docker',
    '--dest',
    'docker',
    '--src-tls-verify=false',
    '--dest-tls-verify=false',
    '--dest-creds',
    `${admin.username}:${admin.password}`,
    source,
    destination,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`skopeo sync exited with ${code}: ${stderr.trim()}`)),
    );
  });
}

async function createPolicy(wharfUrl: string, sourceHost: string): Promise<number> {
  const endpoint = await api<{ id: number }>(wharfUrl, 'POST', '/registries', {
    name: 'distribution',
    url: `http://${sourceHost}`,
  });
  const policy = await api<{ id: number }>(wharfUrl, 'POST', '/replication/policies', {
    name: 'bench',
    src_registry: { id: endpoint.id },
    filters: [{ type: 'name', value: repository }],
    dest_namespace: 'mirror',
    dest_namespace_replace_count: 1,
  });
  return policy.id;
}

interface ExecutionAnswer {
  status: string;
  status_text: string;
  succeeded: number;
}

async function waitForExecution(wharfUrl: string, id: number): Promise<ExecutionAnswer> {
  for (;;) {
    const execution = await api<ExecutionAnswer>(wharfUrl, 'GET', `/replication/executions/${id}`);
    if (execution.status !== 'pending' && execution.status !== 'running') return execution;
    await new Promise((done) => setTimeout(done, 50));
  }
}

async function api<T>(wharfUrl: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${wharfUrl}/api/v1${path}`, {
    method,
    headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}
