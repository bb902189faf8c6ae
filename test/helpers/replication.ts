import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { api, basicOf, type Credentials } from './auth.ts';
import {
  type Descriptor,
  descriptorOf,
  type HttpResult,
  MediaType,
  ociIndex,
  ociManifest,
  send,
  sha256,
} from './http.ts';
import { startWharf, type WharfOptions, type WharfProcess } from './wharf.ts';

/** Images pushed over raw HTTP to any registry (Wharf with credentials, the reference registry without). */

export const replicationAdmin: Credentials = { username: 'admin', password: 'replication-admin-password' };

/** Wharf in projects mode (the management API) with a known administrator. */
export function startReplicationWharf(options: WharfOptions = {}): Promise<WharfProcess> {
  return startWharf({
    ...options,
    env: {
      REGISTRY_AUTH_PROJECTS_ENABLED: 'true',
      REGISTRY_AUTH_AUTOCREATEPROJECTS: 'true',
      WHARF_ADMIN_PASSWORD: replicationAdmin.password,
      ...options.env,
    },
  });
}

/** A call to the management API as the administrator; asserts the status. */
export async function adminApi<T = unknown>(
  baseUrl: string,
  method: string,
  path: string,
  status: number,
  body?: unknown,
): Promise<{ body: T; result: HttpResult }> {
  const result = await api(baseUrl, method, path, { as: replicationAdmin, ...(body === undefined ? {} : { body }) });
  assert.equal(result.status, status, `${method} ${path}: ${result.status} ${result.text()}`);
  return { body: (result.body.length > 0 ? result.json<T>() : undefined) as T, result };
}

export interface Target {
  url: string;
  /** `Authorization` for every request; none for the reference registry. */
  authorization?: string;
}

export function wharfTarget(wharf: WharfProcess): Target {
  return { url: wharf.url, authorization: basicOf(replicationAdmin) };
}

function headers(target: Target, extra: Record<string, string> = {}): Record<string, string> {
  return target.authorization === undefined ? extra : { ...extra, authorization: target.authorization };
}

export async function pushBlobTo(target: Target, repo: string, bytes: Buffer): Promise<Descriptor> {
  const digest = sha256(bytes);
  const started = await send(`${target.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: headers(target) });
  assert.equal(started.status, 202, `POST upload in ${repo}: ${started.status} ${started.text()}`);
  const location = new URL(started.headers.get('location') ?? '', target.url);
  location.searchParams.set('digest', digest);
  const finished = await send(location, {
    method: 'PUT',
    headers: headers(target, { 'content-type': 'application/octet-stream' }),
    body: bytes,
  });
  assert.equal(finished.status, 201, `PUT blob in ${repo}: ${finished.status} ${finished.text()}`);
  return descriptorOf(MediaType.ociLayer, bytes);
}

export async function putManifestTo(
  target: Target,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<string> {
  const result = await send(`${target.url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: headers(target, { 'content-type': mediaType }),
    body: bytes,
  });
  assert.equal(result.status, 201, `PUT manifest ${repo}:${reference}: ${result.status} ${result.text()}`);
  return sha256(bytes);
}

export interface TestImage {
  digest: string;
  manifest: Buffer;
  descriptor: Descriptor;
  layers: Descriptor[];
}

/** An OCI image of a fresh config and the given layers (random ones of `layerSizes` when not given). */
export async function pushTestImage(
  target: Target,
  repo: string,
  tag: string | undefined,
  options: { layers?: Buffer[]; layerSizes?: number[]; platform?: { os: string; architecture: string } } = {},
): Promise<TestImage> {
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const layerBytes = options.layers ?? (options.layerSizes ?? [2048]).map((size) => randomBytes(size));
  const layers: Descriptor[] = [];
  for (const bytes of layerBytes) layers.push(await pushBlobTo(target, repo, bytes));
  const configBytes = Buffer.from(
    JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }),
  );
  await pushBlobTo(target, repo, configBytes);
  const manifest = Buffer.from(
    JSON.stringify(ociManifest({ config: descriptorOf(MediaType.ociConfig, configBytes), layers })),
  );
  const digest = await putManifestTo(target, repo, tag ?? sha256(manifest), manifest, MediaType.ociManifest);
  return { digest, manifest, descriptor: descriptorOf(MediaType.ociManifest, manifest), layers };
}

export interface TestIndex {
  digest: string;
  bytes: Buffer;
  images: TestImage[];
  /** A signature-like artifact whose subject is the index. */
  referrer: { digest: string; bytes: Buffer };
}

/**
 * A two-platform OCI index under `tag` and an artifact referring to it. Registries without the
 * referrers API (Distribution 2.8) also get the `sha256-<hex>` tag that lists the referrer, as the
 * OCI distribution spec tells clients to maintain.
 */
export async function pushTestIndex(
  target: Target,
  repo: string,
  tag: string,
  options: { fallbackTag: boolean },
): Promise<TestIndex> {
  const images: TestImage[] = [];
  for (const architecture of ['amd64', 'arm64']) {
    images.push(await pushTestImage(target, repo, undefined, { platform: { os: 'linux', architecture } }));
  }
  const bytes = Buffer.from(
    JSON.stringify(
      ociIndex({
        manifests: images.map((image) => ({
          ...image.descriptor,
          platform: { os: 'linux', architecture: image === images[0] ? 'amd64' : 'arm64' },
        })),
      }),
    ),
  );
  const digest = await putManifestTo(target, repo, tag, bytes, MediaType.ociIndex);
  const referrer = await pushReferrer(target, repo, descriptorOf(MediaType.ociIndex, bytes), options);
  return { digest, bytes, images, referrer };
}

/** An artifact manifest (artifactType `application/vnd.example.signature`) whose subject is `subject`. */
export async function pushReferrer(
  target: Target,
  repo: string,
  subject: Descriptor,
  options: { fallbackTag: boolean },
): Promise<{ digest: string; bytes: Buffer }> {
  const artifactType = 'application/vnd.example.signature';
  const payload = await pushBlobTo(
    target,
    repo,
    Buffer.from(`signature of ${subject.digest} ${randomBytes(4).toString('hex')}`),
  );
  const empty = await pushBlobTo(target, repo, Buffer.from('{}'));
  const bytes = Buffer.from(
    JSON.stringify(
      ociManifest({
        artifactType,
        config: { ...empty, mediaType: MediaType.ociEmpty },
        layers: [{ ...payload, mediaType: 'application/octet-stream' }],
        subject,
      }),
    ),
  );
  const digest = await putManifestTo(target, repo, sha256(bytes), bytes, MediaType.ociManifest);
  if (options.fallbackTag) {
    const index = Buffer.from(
      JSON.stringify(ociIndex({ manifests: [{ ...descriptorOf(MediaType.ociManifest, bytes), artifactType }] })),
    );
    await putManifestTo(target, repo, subject.digest.replace(':', '-'), index, MediaType.ociIndex);
  }
  return { digest, bytes };
}

/** The digest a tag names (HEAD), or undefined for a 404. */
export async function tagDigest(target: Target, repo: string, tag: string): Promise<string | undefined> {
  const result = await send(`${target.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: headers(target, {
      accept: [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList].join(
        ', ',
      ),
    }),
  });
  if (result.status === 404) return undefined;
  assert.equal(result.status, 200, `HEAD ${repo}:${tag}: ${result.status}`);
  return result.headers.get('docker-content-digest') ?? undefined;
}

/** GET of a manifest or blob; returns the answer for the caller to check. */
export function fetchFrom(target: Target, path: string, accept?: string): Promise<HttpResult> {
  return send(`${target.url}${path}`, { headers: headers(target, accept === undefined ? {} : { accept }) });
}

export interface ExecutionBody {
  id: number;
  policy_id: number;
  status: string;
  status_text: string;
  trigger: string;
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  stopped: number;
  bytes: number;
}

export interface TaskBody {
  id: number;
  operation: string;
  src_resource: string;
  dst_resource: string;
  digest: string | null;
  status: string;
  attempts: number;
  bytes: number;
  duration_ms: number | null;
  error: string | null;
}

/** Polls the execution until its status is one of `statuses`. */
export async function waitForExecution(
  baseUrl: string,
  id: number,
  statuses: readonly string[] = ['succeeded', 'failed', 'stopped'],
  timeoutMs = 60_000,
): Promise<ExecutionBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await adminApi<ExecutionBody>(baseUrl, 'GET', `/replication/executions/${id}`, 200);
    if (statuses.includes(body.status)) return body;
    if (Date.now() > deadline) assert.fail(`execution ${id} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** Every task of an execution, following the pages. */
export async function allTasks(baseUrl: string, id: number): Promise<TaskBody[]> {
  const tasks: TaskBody[] = [];
  for (let page = 1; ; page++) {
    const { body } = await adminApi<TaskBody[]>(
      baseUrl,
      'GET',
      `/replication/executions/${id}/tasks?page=${page}&page_size=100`,
      200,
    );
    tasks.push(...body);
    if (body.length < 100) return tasks;
  }
}

/** Waits until `check` holds (polling), failing with `what` after the timeout. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/**
 * The rows of replication_registries as the server stored them, read from its database (SQLite in
 * the data directory, or the PostgreSQL database the test harness made for it).
 */
export async function storedEndpoints(dataDir: string): Promise<unknown[]> {
  const base = process.env.WHARF_TEST_DATABASE_URL_BASE;
  if (base === undefined || base === '') {
    const db = new Database(join(dataDir, 'wharf.db'), { readonly: true });
    try {
      return db.prepare('select * from replication_registries').all();
    } finally {
      db.close();
    }
  }
  const name = `wharf_test_${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16)}`;
  const client = new pg.Client({ connectionString: new URL(name, base).href });
  await client.connect();
  try {
    return (await client.query('select * from replication_registries')).rows;
  } finally {
    await client.end();
  }
}
