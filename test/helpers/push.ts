import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';

/** Raw distribution-API client calls for tests: push blobs and manifests, pull and verify every byte. */

export const ociManifestType = 'application/vnd.oci.image.manifest.v1+json';
export const ociConfigType = 'application/vnd.oci.image.config.v1+json';
export const ociLayerType = 'application/vnd.oci.image.layer.v1.tar+gzip';

const manifestAccept = [
  ociManifestType,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface Blob {
  bytes: Buffer;
  digest: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface Image {
  config: Blob;
  layers: Blob[];
  manifest: Blob;
  mediaType: string;
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function blobOf(bytes: Buffer): Blob {
  return { bytes, digest: sha256(bytes) };
}

export function randomBlob(size: number): Blob {
  return blobOf(randomBytes(size));
}

/** An OCI image manifest over a config and layers; `label` makes the config (and so the manifest) unique. */
export function buildImage(layers: Blob[], label: string): Image {
  const config = blobOf(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { 'org.example.image': label } },
        rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) },
      }),
    ),
  );
  const describe = (blob: Blob, mediaType: string): Descriptor => ({
    mediaType,
    digest: blob.digest,
    size: blob.bytes.length,
  });
  const manifest = blobOf(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: ociManifestType,
        config: describe(config, ociConfigType),
        layers: layers.map((layer) => describe(layer, ociLayerType)),
      }),
    ),
  );
  return { config, layers, manifest, mediaType: ociManifestType };
}

/** Throws with the response body in the message, so a failing test shows the registry's error JSON. */
export async function expectStatus(response: Response, expected: number, what: string): Promise<void> {
  if (response.status === expected) return;
  const body = await response.text().catch(() => '');
  assert.fail(`${what}: expected HTTP ${expected}, got ${response.status} ${body.slice(0, 500)}`);
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.toString();
}

/** Starts an upload session and returns its absolute Location. */
export async function startUpload(base: string, repo: string): Promise<string> {
  const response = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(response, 202, `POST upload in ${repo}`);
  await response.arrayBuffer();
  return absoluteLocation(base, response);
}

export function absoluteLocation(base: string, response: Response): string {
  const location = response.headers.get('location');
  assert.ok(location, `${response.url}: response ${response.status} has no Location header`);
  return new URL(location, base).toString();
}

/** POST then a single PUT carrying the whole blob. */
export async function pushBlobMonolithic(base: string, repo: string, blob: Blob): Promise<Response> {
  const location = await startUpload(base, repo);
  const response = await fetch(withDigest(location, blob.digest), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: blob.bytes,
  });
  await checkBlobCommitted(response, repo, blob);
  return response;
}

/** POST, one PATCH per chunk with Content-Range, then an empty PUT with the digest. */
export async function pushBlobChunked(base: string, repo: string, blob: Blob, chunkSize: number): Promise<Response> {
  let location = await startUpload(base, repo);
  for (let start = 0; start < blob.bytes.length; start += chunkSize) {
    const chunk = blob.bytes.subarray(start, Math.min(start + chunkSize, blob.bytes.length));
    const end = start + chunk.length - 1;
    const response = await fetch(location, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}` },
      body: chunk,
    });
    await expectStatus(response, 202, `PATCH ${start}-${end} of ${blob.digest} in ${repo}`);
    await response.arrayBuffer();
    assert.equal(response.headers.get('range'), `0-${end}`, `Range after PATCH ${start}-${end}`);
    location = absoluteLocation(base, response);
  }
  const response = await fetch(withDigest(location, blob.digest), { method: 'PUT' });
  await checkBlobCommitted(response, repo, blob);
  return response;
}

async function checkBlobCommitted(response: Response, repo: string, blob: Blob): Promise<void> {
  await expectStatus(response, 201, `PUT blob ${blob.digest} in ${repo}`);
  await response.arrayBuffer();
  assert.equal(response.headers.get('docker-content-digest'), blob.digest, 'Docker-Content-Digest of committed blob');
  assert.ok(response.headers.get('location'), 'committed blob has a Location');
}

export async function pushManifest(
  base: string,
  repo: string,
  reference: string,
  manifest: Blob,
  mediaType: string = ociManifestType,
): Promise<Response> {
  const response = await fetch(`${base}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: manifest.bytes,
  });
  await expectStatus(response, 201, `PUT manifest ${repo}:${reference}`);
  await response.arrayBuffer();
  assert.equal(response.headers.get('docker-content-digest'), manifest.digest, 'Docker-Content-Digest of manifest');
  return response;
}

export interface PushOptions {
  /** Upload blobs in PATCH chunks of this size instead of one PUT. */
  chunkSize?: number;
}

/** Pushes the config and every layer (in parallel), then the manifest under `tag`. */
export async function pushImage(
  base: string,
  repo: string,
  tag: string,
  image: Image,
  options: PushOptions = {},
): Promise<Response> {
  const push = (blob: Blob) =>
    options.chunkSize === undefined
      ? pushBlobMonolithic(base, repo, blob)
      : pushBlobChunked(base, repo, blob, options.chunkSize);
  await Promise.all([image.config, ...image.layers].map(push));
  return pushManifest(base, repo, tag, image.manifest, image.mediaType);
}

export async function getBlob(base: string, repo: string, digest: string): Promise<Response> {
  return fetch(`${base}/v2/${repo}/blobs/${digest}`);
}

/** GET the blob and check status, length and the sha256 of every byte. */
export async function verifyBlob(base: string, repo: string, descriptor: Descriptor): Promise<Buffer> {
  const response = await getBlob(base, repo, descriptor.digest);
  await expectStatus(response, 200, `GET blob ${descriptor.digest} in ${repo}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(bytes.length, descriptor.size, `size of blob ${descriptor.digest} in ${repo}`);
  assert.equal(sha256(bytes), descriptor.digest, `sha256 of blob bytes pulled from ${repo}`);
  return bytes;
}

export async function getManifest(base: string, repo: string, reference: string): Promise<Response> {
  return fetch(`${base}/v2/${repo}/manifests/${reference}`, { headers: { accept: manifestAccept } });
}

/**
 * Pulls `repo:reference` as a client would: the manifest, then every blob it references, checking
 * each digest against the bytes. With `expected`, the manifest bytes must be exactly the pushed ones.
 * Returns the manifest's digest.
 */
export async function pullAndVerify(base: string, repo: string, reference: string, expected?: Image): Promise<string> {
  const response = await getManifest(base, repo, reference);
  await expectStatus(response, 200, `GET manifest ${repo}:${reference}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const digest = sha256(bytes);
  assert.equal(response.headers.get('docker-content-digest'), digest, `Docker-Content-Digest of ${repo}:${reference}`);
  if (reference.includes(':')) assert.equal(digest, reference, 'manifest pulled by digest hashes to that digest');
  if (expected) {
    assert.equal(digest, expected.manifest.digest, `manifest of ${repo}:${reference}`);
    assert.ok(bytes.equals(expected.manifest.bytes), `manifest bytes of ${repo}:${reference} are the pushed bytes`);
    assert.equal(response.headers.get('content-type'), expected.mediaType, `Content-Type of ${repo}:${reference}`);
  }
  const manifest = JSON.parse(bytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  await Promise.all([manifest.config, ...manifest.layers].map((descriptor) => verifyBlob(base, repo, descriptor)));
  return digest;
}

export async function listTags(base: string, repo: string): Promise<string[]> {
  const response = await fetch(`${base}/v2/${repo}/tags/list`);
  await expectStatus(response, 200, `GET tags/list of ${repo}`);
  const body = (await response.json()) as { name: string; tags: string[] | null };
  assert.equal(body.name, repo, 'tags/list name');
  return body.tags ?? [];
}

export async function listCatalog(base: string): Promise<string[]> {
  const response = await fetch(`${base}/v2/_catalog`);
  await expectStatus(response, 200, 'GET /v2/_catalog');
  const body = (await response.json()) as { repositories: string[] | null };
  return body.repositories ?? [];
}

/** The `code` of the first error in an OCI error body, or undefined if the body is not one. */
export async function errorCode(response: Response): Promise<string | undefined> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { errors?: { code?: string }[] };
    return body.errors?.[0]?.code;
  } catch {
    return undefined;
  }
}
