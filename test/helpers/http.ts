import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';

/** A response with its body fully read, whichever client sent the request. */
export interface HttpResult {
  status: number;
  headers: Headers;
  body: Buffer;
  text(): string;
  json<T = unknown>(): T;
}

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** The OCI empty descriptor: the two bytes `{}`. */
export const emptyJson = Buffer.from('{}');
export const emptyDescriptor: Descriptor = {
  mediaType: MediaType.ociEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
};

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

/** A registry answer of 5xx is a bug whatever the request was; every request made here checks it. */
export function assertNoServerError(result: { status: number }, what: string): void {
  assert.ok(result.status < 500, `${what} answered ${result.status}, a server error`);
}

function toResult(status: number, headers: Headers, body: Buffer): HttpResult {
  return {
    status,
    headers,
    body,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
}

/** fetch, reading the whole body and never following redirects, so every status is seen as sent. */
export async function send(url: string | URL, init: RequestInit = {}): Promise<HttpResult> {
  const response = await fetch(url, { redirect: 'manual', ...init });
  const body = Buffer.from(await response.arrayBuffer());
  const result = toResult(response.status, response.headers, body);
  assertNoServerError(result, `${init.method ?? 'GET'} ${url}`);
  return result;
}

export interface RawRequest {
  method: string;
  /** Sent exactly as given: no normalisation of `..`, percent-escapes or query strings. */
  path: string;
  headers?: OutgoingHttpHeaders;
  /** Sent with Content-Length unless `chunks` is given. */
  body?: Buffer;
  /** Sent with `Transfer-Encoding: chunked`, one write per chunk. */
  chunks?: Buffer[];
  /**
   * Send the headers, then wait this long for an answer before sending `body`. A server that refuses
   * a declared Content-Length answers at once and closes; writing the body into that close would race
   * the answer (EPIPE, and the response lost), so it is only sent if no answer came.
   */
  holdBodyMs?: number;
}

/**
 * A request through node:http, for what fetch will not send: a path with `..`, a body on any
 * method, chunked transfer encoding, an explicit Content-Length. The promise settles with the
 * response even when the server answers before the whole body was written and closes.
 */
export function rawRequest(baseUrl: string, options: RawRequest): Promise<HttpResult> {
  const base = new URL(baseUrl);
  const headers: OutgoingHttpHeaders = { ...options.headers };
  if (options.body !== undefined && headers['content-length'] === undefined) {
    headers['content-length'] = String(options.body.length);
  }
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      { host: base.hostname, port: base.port, method: options.method, path: options.path, headers, agent: false },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('error', reject);
        res.on('end', () => {
          if (!req.writableEnded) req.destroy();
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (Array.isArray(value)) for (const entry of value) responseHeaders.append(name, entry);
            else if (value !== undefined) responseHeaders.set(name, value);
          }
          const result = toResult(res.statusCode ?? 0, responseHeaders, Buffer.concat(parts));
          try {
            assertNoServerError(result, `${options.method} ${options.path}`);
            resolve(result);
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on('error', (error) => {
      // A server that rejects an oversized body may close the socket while it is still being written.
      if (!answered) reject(error);
    });
    if (options.chunks !== undefined) {
      for (const chunk of options.chunks) req.write(chunk);
      req.end();
    } else if (options.holdBodyMs !== undefined) {
      req.flushHeaders();
      setTimeout(() => {
        if (!answered) req.end(options.body);
      }, options.holdBodyMs);
    } else {
      req.end(options.body);
    }
  });
}

/**
 * Asserts the exact OCI error shape `{"errors":[{code,message,detail?}]}` (no other keys), the
 * status, and that the first error carries `code` (or one of `code` when a list is given).
 */
export function assertError(result: HttpResult, status: number, code: string | readonly string[]): void {
  const codes = typeof code === 'string' ? [code] : code;
  assert.equal(result.status, status, `expected ${status} ${codes.join('|')}, got ${result.status}: ${result.text()}`);
  const errors = assertErrorBody(result);
  assert.ok(
    errors.some((entry) => codes.includes(entry.code)),
    `expected error code ${codes.join('|')}, got ${errors.map((entry) => entry.code).join(', ')}`,
  );
}

/** Asserts the body is the OCI error JSON and returns its errors. */
export function assertErrorBody(result: HttpResult): { code: string; message?: string; detail?: unknown }[] {
  assert.match(result.headers.get('content-type') ?? '', /^application\/json\b/, 'error Content-Type');
  const body = result.json<Record<string, unknown>>();
  assert.deepEqual(Object.keys(body), ['errors'], `error body keys: ${result.text()}`);
  const errors = body.errors;
  assert.ok(Array.isArray(errors) && errors.length > 0, 'errors must be a non-empty array');
  for (const entry of errors as Record<string, unknown>[]) {
    for (const key of Object.keys(entry)) {
      assert.ok(
        ['code', 'message', 'detail'].includes(key),
        `unexpected key "${key}" in error ${JSON.stringify(entry)}`,
      );
    }
    assert.equal(typeof entry.code, 'string');
    assert.match(entry.code as string, /^[A-Z_]+$/);
    if (entry.message !== undefined) assert.equal(typeof entry.message, 'string');
  }
  return errors as { code: string; message?: string; detail?: unknown }[];
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function sha512(bytes: Uint8Array): string {
  return `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
}

export function randomBlob(size = 1024): Buffer {
  return randomBytes(size);
}

/** A repository name no other test uses. */
export function uniqueRepo(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function descriptorOf(mediaType: string, bytes: Buffer, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.length, ...extra };
}

/** Resolves a Location header against the registry's URL. */
export function locationOf(baseUrl: string, result: HttpResult): URL {
  const location = result.headers.get('location');
  assert.ok(location, `no Location header (status ${result.status})`);
  return new URL(location, baseUrl);
}

export function withQuery(url: URL, query: Record<string, string>): URL {
  const copy = new URL(url);
  for (const [key, value] of Object.entries(query)) copy.searchParams.set(key, value);
  return copy;
}

/** Starts an upload session; returns its URL. */
export async function startUpload(baseUrl: string, repo: string): Promise<URL> {
  const started = await send(`${baseUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(started.status, 202, `POST upload: ${started.text()}`);
  return locationOf(baseUrl, started);
}

/** Pushes a blob with POST then PUT (the way every registry must accept); returns its digest. */
export async function pushBlob(baseUrl: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const upload = await startUpload(baseUrl, repo);
  const finished = await send(withQuery(upload, { digest }), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  assert.equal(finished.status, 201, `PUT blob: ${finished.text()}`);
  return digest;
}

export interface PushedManifest {
  digest: string;
  bytes: Buffer;
  mediaType: string;
  result: HttpResult;
}

/** PUTs manifest bytes as given (or a JSON object serialised once); asserts 201. */
export async function pushManifest(
  baseUrl: string,
  repo: string,
  reference: string,
  manifest: Buffer | object,
  mediaType: string,
): Promise<PushedManifest> {
  const bytes = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
  const result = await putManifest(baseUrl, repo, reference, bytes, mediaType);
  assert.equal(result.status, 201, `PUT manifest ${repo}:${reference}: ${result.text()}`);
  return { digest: sha256(bytes), bytes, mediaType, result };
}

export function putManifest(
  baseUrl: string,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<HttpResult> {
  return send(`${baseUrl}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: bytes,
  });
}

export interface ImageManifestParts {
  config?: Descriptor;
  layers?: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export function ociManifest(parts: ImageManifestParts & { config: Descriptor }): object {
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    ...(parts.artifactType === undefined ? {} : { artifactType: parts.artifactType }),
    config: parts.config,
    layers: parts.layers ?? [],
    ...(parts.subject === undefined ? {} : { subject: parts.subject }),
    ...(parts.annotations === undefined ? {} : { annotations: parts.annotations }),
  };
}

export function ociIndex(parts: {
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}): object {
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    ...(parts.artifactType === undefined ? {} : { artifactType: parts.artifactType }),
    manifests: parts.manifests,
    ...(parts.subject === undefined ? {} : { subject: parts.subject }),
    ...(parts.annotations === undefined ? {} : { annotations: parts.annotations }),
  };
}

export function dockerManifest(config: Descriptor, layers: Descriptor[]): object {
  return { schemaVersion: 2, mediaType: MediaType.dockerManifest, config, layers };
}

export function dockerManifestList(manifests: Descriptor[]): object {
  return { schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests };
}

export interface PushedImage extends PushedManifest {
  config: Descriptor;
  layers: Descriptor[];
  layerBytes: Buffer[];
}

/**
 * Pushes a config and one layer, then an image manifest referencing them (OCI unless `docker`),
 * under `reference` (a tag or, when omitted, its own digest).
 */
export async function pushImage(
  baseUrl: string,
  repo: string,
  reference?: string,
  options: { docker?: boolean; annotations?: Record<string, string>; platform?: string } = {},
): Promise<PushedImage> {
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: options.platform?.split('/')[1] ?? 'amd64',
      os: options.platform?.split('/')[0] ?? 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      nonce: randomBytes(8).toString('hex'),
    }),
  );
  const layerBytes = randomBlob(512);
  await pushBlob(baseUrl, repo, configBytes);
  await pushBlob(baseUrl, repo, layerBytes);
  const config = descriptorOf(options.docker ? MediaType.dockerConfig : MediaType.ociConfig, configBytes);
  const layers = [descriptorOf(options.docker ? MediaType.dockerLayer : MediaType.ociLayer, layerBytes)];
  const manifest = options.docker
    ? dockerManifest(config, layers)
    : ociManifest({ config, layers, annotations: options.annotations });
  const bytes = Buffer.from(JSON.stringify(manifest));
  const mediaType = options.docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const pushed = await pushManifest(baseUrl, repo, reference ?? sha256(bytes), bytes, mediaType);
  return { ...pushed, config, layers, layerBytes: [layerBytes] };
}

/** The target of `Link: <url>; rel="next"`, resolved against the registry's URL. */
export function nextLink(baseUrl: string, result: HttpResult): URL | undefined {
  const header = result.headers.get('link');
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>\s*(.*)$/.exec(part);
    if (match && /(?:^|;)\s*rel="?next"?\s*(?:;|$)/i.test(match[2] ?? '')) return new URL(match[1] ?? '', baseUrl);
  }
  return undefined;
}
