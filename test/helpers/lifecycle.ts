import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { api, basicOf, type Credentials, call, putManifestAs } from './auth.ts';
import { descriptorOf, type HttpResult, MediaType, ociManifest, sha256 } from './http.ts';

/** An image whose layers are given (shared layers make shared blobs), with a unique config. */
export interface SizedImage {
  manifest: Buffer;
  digest: string;
  blobs: Buffer[];
  /** What the image adds to a project that holds none of its blobs: blobs plus manifest. */
  bytes: number;
}

export function sizedImage(layers: readonly Buffer[], extra: Record<string, unknown> = {}): SizedImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      nonce: randomBytes(8).toString('hex'),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      ...ociManifest({
        config: descriptorOf(MediaType.ociConfig, config),
        layers: layers.map((layer) => descriptorOf(MediaType.ociLayer, layer)),
      }),
      ...extra,
    }),
  );
  const blobs = [config, ...layers];
  return {
    manifest,
    digest: sha256(manifest),
    blobs,
    bytes: manifest.length + blobs.reduce((sum, blob) => sum + blob.length, 0),
  };
}

/** POST + PUT of one blob; the answer is returned, not checked. */
export async function uploadBlob(base: string, repo: string, bytes: Buffer, as: Credentials): Promise<HttpResult> {
  const started = await call(base, 'POST', `/v2/${repo}/blobs/uploads/`, basicOf(as));
  if (started.status !== 202) return started;
  const location = new URL(started.headers.get('location') ?? '', base);
  location.searchParams.set('digest', sha256(bytes));
  return call(base, 'PUT', `${location.pathname}${location.search}`, basicOf(as), {
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
}

/** Pushes every blob then the manifest; the first answer that is not 201 is returned, else the manifest's. */
export async function tryPush(
  base: string,
  repo: string,
  reference: string,
  image: SizedImage,
  as: Credentials,
): Promise<HttpResult> {
  for (const blob of image.blobs) {
    const answer = await uploadBlob(base, repo, blob, as);
    if (answer.status !== 201) return answer;
  }
  return putManifestAs(base, repo, reference, image.manifest, basicOf(as));
}

export async function push(
  base: string,
  repo: string,
  reference: string,
  image: SizedImage,
  as: Credentials,
): Promise<void> {
  const answer = await tryPush(base, repo, reference, image, as);
  assert.equal(answer.status, 201, `push ${repo}:${reference}: ${answer.status} ${answer.text()}`);
}

/** Polls `check` until it returns something other than undefined. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export interface RunRecord {
  id: number;
  trigger: string;
  dry_run: boolean;
  status: string;
  triggered_by: string | null;
  scheduled_for: string | null;
  started_at: string;
  finished_at: string | null;
  total: number;
  retained: number;
  deleted: number;
  failed: number;
  bytes_freed: number;
  error: string | null;
}

export interface RunArtifactRecord {
  repository: string;
  digest: string;
  tags: string[];
  size: number;
  outcome: string;
  error: string | null;
}

/** Starts a retention run by hand and waits until it is recorded as finished. */
export async function runRetention(
  base: string,
  project: string,
  as: Credentials,
  dryRun: boolean,
): Promise<{ run: RunRecord; artifacts: RunArtifactRecord[] }> {
  const started = await api(base, 'POST', `/projects/${project}/retention/runs`, { as, body: { dry_run: dryRun } });
  assert.equal(started.status, 202, `start run: ${started.text()}`);
  const location = started.headers.get('location');
  const { id } = started.json<RunRecord>();
  assert.equal(location, `/api/v1/projects/${project}/retention/runs/${id}`);
  const run = await eventually(`retention run ${id}`, async () => {
    const record = (await api(base, 'GET', `/projects/${project}/retention/runs/${id}`, { as })).json<RunRecord>();
    return record.status === 'running' ? undefined : record;
  });
  const listed = await api(base, 'GET', `/projects/${project}/retention/runs/${id}/artifacts?page_size=100`, { as });
  assert.equal(listed.status, 200);
  return { run, artifacts: listed.json<RunArtifactRecord[]>() };
}

export async function projectUsage(
  base: string,
  project: string,
  as: Credentials,
): Promise<{ bytes: number; artifacts: number }> {
  const answer = await api(base, 'GET', `/projects/${project}/quota`, { as });
  assert.equal(answer.status, 200, answer.text());
  return answer.json<{ used: { bytes: number; artifacts: number } }>().used;
}

export interface Recomputed {
  scope: string;
  before: { bytes: number; artifacts: number } | null;
  after: { bytes: number; artifacts: number };
  corrected: boolean;
}

/** Recounts the usage from scratch; asserts the recorded usage was already exact. */
export async function assertUsageExact(base: string, as: Credentials, project?: string): Promise<Recomputed[]> {
  const answer = await api(base, 'POST', `/usage/recompute${project === undefined ? '' : `?project=${project}`}`, {
    as,
  });
  assert.equal(answer.status, 200, answer.text());
  const results = answer.json<Recomputed[]>();
  for (const result of results) {
    assert.deepEqual(result.before, result.after, `recorded usage of ${result.scope} equals a recount`);
  }
  return results;
}

export async function tagsOf(base: string, repo: string, as: Credentials): Promise<string[]> {
  const answer = await call(base, 'GET', `/v2/${repo}/tags/list`, basicOf(as));
  assert.equal(answer.status, 200, `tags of ${repo}: ${answer.text()}`);
  return (answer.json<{ tags: string[] | null }>().tags ?? []).sort();
}

export async function catalogOf(base: string, as: Credentials): Promise<string[]> {
  const answer = await call(base, 'GET', '/v2/_catalog', basicOf(as));
  assert.equal(answer.status, 200);
  return answer.json<{ repositories: string[] }>().repositories;
}

/** The first error of an error body. */
export function firstError(answer: HttpResult): { code: string; message: string; detail?: unknown } {
  const body = answer.json<{ errors: { code: string; message: string; detail?: unknown }[] }>();
  const error = body.errors[0];
  assert.ok(error, `an error body: ${answer.text()}`);
  return error;
}

export function layer(size: number): Buffer {
  return randomBytes(size);
}
