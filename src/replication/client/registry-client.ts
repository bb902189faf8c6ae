import type { Readable } from 'node:stream';
import { type Digest, digestAlgorithm, digestOf, isDigest, parseDigest } from '../../oci/digest.ts';
import { type Descriptor, maxManifestBytes, parseDescriptor, parseManifest } from '../../oci/manifest.ts';
import { MediaTypes } from '../../oci/media-types.ts';
import { type BlobDownload, downloadBlob } from './blob-download.ts';
import { mountBlob, uploadBlob } from './blob-upload.ts';
import { discardBody, type HttpResponse, headerValue, readBody } from './http-exchange.ts';
import { nextLink } from './link-header.ts';
import {
  type ManifestContent,
  manifestMediaType,
  manifestMediaTypes,
  verifiedManifestDigest,
} from './manifest-content.ts';
import { filterByArtifactType, referrerDescriptor, referrersFallbackTag, withReferrer } from './referrers.ts';
import { DigestMismatchError, isNotFound, RegistryClientError } from './registry-client-error.ts';
import { RegistryHttp, type RegistryHttpOptions } from './registry-http.ts';
import { catalogScope, repositoryScope } from './scope.ts';

export interface RegistryClientOptions extends RegistryHttpOptions {
  /** Upload blobs larger than this in PATCH chunks of this many bytes; 0 (the default) streams each in one PUT. */
  chunkSize?: number;
  /**
   * After pushing a manifest with a `subject` to a registry without the referrers API (no
   * OCI-Subject in the answer), add it to the `<alg>-<hex>` fallback tag index. Default true.
   */
  referrersTagFallback?: boolean;
}

export interface ManifestHead {
  digest: Digest;
  mediaType: string;
  size: number;
}

export interface PushedManifest {
  digest: Digest;
  /** The subject the registry reported (OCI-Subject), when it has the referrers API. */
  subject?: Digest;
  /** The fallback tag that was updated, when the registry lacks the referrers API. */
  referrersTag?: string;
}

export interface PingResult {
  /** `bearer`, `basic`, or undefined for an open registry. */
  authScheme: string | undefined;
  /** Docker-Distribution-API-Version, e.g. `registry/2.0`. */
  apiVersion: string | undefined;
}

export interface PageOptions {
  /** Entries asked for per request (`n`); the registry's default when not given. */
  pageSize?: number;
  signal?: AbortSignal;
}

const maxListingBytes = 16 * 1024 * 1024;

/**
 * A client for one OCI / Docker Registry v2 API endpoint (Wharf, Distribution, Docker Hub, Harbor,
 * GHCR, ECR, …). It authenticates as the registry asks (Basic, or Bearer tokens fetched per scope
 * and cached until shortly before they expire), retries 429/5xx and lost connections with
 * exponential backoff honouring Retry-After, follows redirects (without the registry's credentials
 * on another origin), streams blobs both ways with constant memory, resumes interrupted downloads
 * with Range requests, and verifies every manifest and blob against its digest.
 *
 * Every failure is a RegistryClientError (DigestMismatchError for wrong content). Methods that
 * look something up answer undefined for a 404 instead of throwing.
 */
export class RegistryClient {
  /** The registry's canonical name (`docker.io`, `registry.example.com:5000`), for messages and comparisons. */
  readonly registry: string;
  private readonly http: RegistryHttp;
  private readonly chunkSize: number;
  private readonly referrersTagFallback: boolean;
  private readonly fallbackTagUpdates = new Map<string, Promise<void>>();

  constructor(options: RegistryClientOptions) {
    this.http = new RegistryHttp(options);
    this.registry = this.http.registry;
    this.chunkSize = options.chunkSize ?? 0;
    this.referrersTagFallback = options.referrersTagFallback ?? true;
  }

  /** The base URL requests go to (HTTPS, or HTTP for an insecure bare host whose HTTPS failed). */
  baseUrl(): Promise<URL> {
    return this.http.baseUrl();
  }

  /**
   * `GET /v2/`: checks that the registry answers the API, and that the credentials are accepted
   * when it asks for any (a Bearer registry is asked for a token with no scope).
   */
  async ping(signal?: AbortSignal): Promise<PingResult> {
    const response = await this.http.send({ method: 'GET', url: '/v2/', scopes: [], expect: [200], signal });
    await discardBody(response.body);
    return {
      authScheme: this.http.authScheme,
      apiVersion: headerValue(response.headers, 'docker-distribution-api-version'),
    };
  }

  // Manifests

  /** The manifest a tag or digest names, verified against the digest (or the registry's Docker-Content-Digest). */
  async getManifest(
    repository: string,
    reference: string,
    options: { accept?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<ManifestContent> {
    const response = await this.http.send({
      method: 'GET',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, 'pull')],
      headers: { accept: (options.accept ?? manifestMediaTypes).join(', ') },
      expect: [200],
      signal: options.signal,
    });
    const bytes = await readBody(response.body, maxManifestBytes, `manifest ${repository}:${reference}`);
    const digest = verifiedManifestDigest(bytes, reference, headerValue(response.headers, 'docker-content-digest'));
    return { bytes, mediaType: manifestMediaType(headerValue(response.headers, 'content-type'), bytes), digest };
  }

  /** What a tag or digest names (HEAD), or undefined when the repository has no such manifest. */
  async headManifest(
    repository: string,
    reference: string,
    options: { accept?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<ManifestHead | undefined> {
    const response = await this.http.send({
      method: 'HEAD',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, 'pull')],
      headers: { accept: (options.accept ?? manifestMediaTypes).join(', ') },
      expect: [200, 404],
      signal: options.signal,
    });
    await discardBody(response.body);
    if (response.status === 404) return undefined;
    const digest = headerValue(response.headers, 'docker-content-digest');
    const size = Number(headerValue(response.headers, 'content-length'));
    const mediaType = headerValue(response.headers, 'content-type');
    if (digest === undefined || !isDigest(digest) || !Number.isSafeInteger(size) || mediaType === undefined) {
      // Not every registry describes a manifest on HEAD; the bytes do.
      const manifest = await this.getManifest(repository, reference, options);
      return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
    }
    if (reference.includes(':') && digest !== reference) {
      throw new DigestMismatchError(`manifest ${reference} (HEAD)`, reference, digest);
    }
    return { digest: parseDigest(digest), mediaType: manifestMediaType(mediaType, Buffer.alloc(0)), size };
  }

  /**
   * Pushes manifest bytes under a tag or their digest. On a registry without the referrers API a
   * manifest with a `subject` is also added to the subject's fallback tag index.
   */
  async putManifest(
    repository: string,
    reference: string,
    manifest: { bytes: Buffer; mediaType: string },
    signal?: AbortSignal,
  ): Promise<PushedManifest> {
    const digest = reference.includes(':')
      ? verifiedManifestDigest(manifest.bytes, reference, undefined)
      : digestOf(manifest.bytes);
    const response = await this.http.send({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      scopes: [repositoryScope(repository, 'pull', 'push')],
      headers: { 'content-type': manifest.mediaType },
      body: manifest.bytes,
      expect: [201],
      signal,
    });
    await discardBody(response.body);
    const stored = headerValue(response.headers, 'docker-content-digest');
    if (stored !== undefined && isDigest(stored)) {
      const expected = digestOf(manifest.bytes, digestAlgorithm(parseDigest(stored)));
      if (expected !== stored) throw new DigestMismatchError(`manifest stored by ${repository}`, expected, stored);
    }
    const subjectHeader = headerValue(response.headers, 'oci-subject');
    const result: PushedManifest = { digest };
    if (subjectHeader !== undefined && isDigest(subjectHeader)) result.subject = parseDigest(subjectHeader);
    const parsed = parseQuietly(manifest);
    if (parsed?.subject && subjectHeader === undefined && this.referrersTagFallback) {
      const descriptor = referrerDescriptor(
        { digest, mediaType: parsed.mediaType, size: manifest.bytes.length },
        parsed,
      );
      result.referrersTag = await this.addToReferrersTag(repository, parsed.subject.digest, descriptor, signal);
    }
    return result;
  }

  async deleteManifest(repository: string, digest: Digest, signal?: AbortSignal): Promise<void> {
    const response = await this.http.send({
      method: 'DELETE',
      url: `/v2/${repository}/manifests/${digest}`,
      scopes: [repositoryScope(repository, 'delete')],
      expect: [202],
      signal,
    });
    await discardBody(response.body);
  }

  // Blobs

  /** The blob's size when the repository holds it, else undefined. */
  async statBlob(repository: string, digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
    const response = await this.http.send({
      method: 'HEAD',
      url: `/v2/${repository}/blobs/${digest}`,
      scopes: [repositoryScope(repository, 'pull')],
      expect: [200, 404],
      signal,
    });
    await discardBody(response.body);
    if (response.status === 404) return undefined;
    const size = Number(headerValue(response.headers, 'content-length'));
    return Number.isSafeInteger(size) ? size : undefined;
  }

  /**
   * The blob as a verified stream (see downloadBlob): resumed with Range after a lost connection,
   * failing with DigestMismatchError instead of ending when the bytes are wrong.
   */
  openBlob(
    repository: string,
    descriptor: { digest: Digest; size?: number },
    options: { signal?: AbortSignal; onResume?: (offset: number) => void } = {},
  ): Promise<BlobDownload> {
    return downloadBlob(
      descriptor,
      (offset) =>
        this.http.send({
          method: 'GET',
          url: `/v2/${repository}/blobs/${descriptor.digest}`,
          scopes: [repositoryScope(repository, 'pull')],
          headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
          expect: offset > 0 ? [200, 206] : [200],
          signal: options.signal,
        }),
      this.http.retry,
      options.onResume,
    );
  }

  /**
   * Uploads a blob from a stream of exactly `descriptor.size` bytes; the registry verifies the
   * digest. Not retried (the stream is consumed): on a retryable error, call again with a new stream.
   */
  pushBlob(
    repository: string,
    descriptor: { digest: Digest; size: number },
    content: Readable,
    signal?: AbortSignal,
  ): Promise<void> {
    return uploadBlob((exchange) => this.http.send(exchange), repository, descriptor, content, this.chunkSize, signal);
  }

  /** Links a blob `from` holds into `repository` on the registry itself; false when the registry would not. */
  mountBlob(repository: string, digest: Digest, from: string): Promise<boolean> {
    return mountBlob((exchange) => this.http.send(exchange), repository, digest, from);
  }

  // Listings

  /** The repository's tags, page by page as the registry's Link headers lead; never the whole list at once. */
  async *tags(repository: string, options: PageOptions = {}): AsyncGenerator<string> {
    yield* this.pages(`/v2/${repository}/tags/list`, [repositoryScope(repository, 'pull')], 'tags', options);
  }

  /** The registry's repositories (`/v2/_catalog`), page by page. */
  async *repositories(options: PageOptions = {}): AsyncGenerator<string> {
    yield* this.pages('/v2/_catalog', [catalogScope], 'repositories', options);
  }

  /**
   * The manifests that name `subject` as their subject: from the referrers API, or, on a registry
   * without it (404), from the `<alg>-<hex>` fallback tag index.
   */
  async *referrers(
    repository: string,
    subject: Digest,
    options: { artifactType?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<Descriptor> {
    const scopes = [repositoryScope(repository, 'pull')];
    const query =
      options.artifactType === undefined ? '' : `?${new URLSearchParams({ artifactType: options.artifactType })}`;
    let url: string | URL | undefined = `/v2/${repository}/referrers/${subject}${query}`;
    let first = true;
    while (url !== undefined) {
      const response: HttpResponse = await this.http.send({
        method: 'GET',
        url,
        scopes,
        headers: { accept: MediaTypes.ociIndex },
        expect: [200, 404],
        signal: options.signal,
      });
      const isIndex = headerValue(response.headers, 'content-type')?.startsWith(MediaTypes.ociIndex) ?? false;
      if (response.status === 404 || !isIndex) {
        await discardBody(response.body);
        if (first) yield* this.fallbackReferrers(repository, subject, options);
        return;
      }
      const bytes = await readBody(response.body, maxListingBytes, `referrers of ${subject}`);
      const manifests = descriptorsOf(bytes, `referrers of ${subject}`);
      const filtered = /\bartifactType\b/i.test(headerValue(response.headers, 'oci-filters-applied') ?? '');
      yield* filtered ? manifests : filterByArtifactType(manifests, options.artifactType);
      url = nextLink(response.headers.link, response.url);
      first = false;
    }
  }

  /** Closes the connection pools the client opened. */
  async close(): Promise<void> {
    await this.http.close();
  }

  // Internals

  private async *fallbackReferrers(
    repository: string,
    subject: Digest,
    options: { artifactType?: string; signal?: AbortSignal },
  ): AsyncGenerator<Descriptor> {
    let index: ManifestContent;
    try {
      index = await this.getManifest(repository, referrersFallbackTag(subject), {
        accept: [MediaTypes.ociIndex],
        signal: options.signal,
      });
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    yield* filterByArtifactType(descriptorsOf(index.bytes, `the referrers tag of ${subject}`), options.artifactType);
  }

  /** Adds a referrer to the fallback index, one update at a time per subject so none is lost. */
  private async addToReferrersTag(
    repository: string,
    subject: Digest,
    descriptor: Descriptor,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const tag = referrersFallbackTag(subject);
    const key = `${repository}:${tag}`;
    const previous = this.fallbackTagUpdates.get(key) ?? Promise.resolve();
    const update = previous.then(async () => {
      let existing: Buffer | undefined;
      try {
        existing = (await this.getManifest(repository, tag, { accept: [MediaTypes.ociIndex], signal })).bytes;
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      const updated = withReferrer(existing, descriptor);
      if (updated === undefined) return;
      await this.putManifest(repository, tag, { bytes: updated, mediaType: MediaTypes.ociIndex }, signal);
    });
    const settled = update.catch(() => {});
    this.fallbackTagUpdates.set(key, settled);
    try {
      await update;
    } finally {
      if (this.fallbackTagUpdates.get(key) === settled) this.fallbackTagUpdates.delete(key);
    }
    return tag;
  }

  private async *pages(
    path: string,
    scopes: string[],
    field: 'tags' | 'repositories',
    options: PageOptions,
  ): AsyncGenerator<string> {
    let url: string | URL | undefined = options.pageSize === undefined ? path : `${path}?n=${options.pageSize}`;
    while (url !== undefined) {
      const response: HttpResponse = await this.http.send({
        method: 'GET',
        url,
        scopes,
        expect: [200],
        signal: options.signal,
      });
      const bytes = await readBody(response.body, maxListingBytes, path);
      let entries: unknown;
      try {
        entries = (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>)[field];
      } catch {
        throw new RegistryClientError(`GET ${path}: the answer is not JSON`);
      }
      if (entries !== null && entries !== undefined && !Array.isArray(entries)) {
        throw new RegistryClientError(`GET ${path}: "${field}" is not a list`);
      }
      for (const entry of entries ?? []) if (typeof entry === 'string') yield entry;
      url = nextLink(response.headers.link, response.url);
    }
  }
}

function parseQuietly(manifest: { bytes: Buffer; mediaType: string }): ReturnType<typeof parseManifest> | undefined {
  try {
    return parseManifest(manifest.bytes, manifest.mediaType);
  } catch {
    return undefined;
  }
}

function descriptorsOf(bytes: Buffer, what: string): Descriptor[] {
  let json: { manifests?: unknown };
  try {
    json = JSON.parse(bytes.toString('utf8')) as typeof json;
  } catch {
    throw new RegistryClientError(`${what}: the answer is not JSON`);
  }
  if (!Array.isArray(json.manifests)) return [];
  return json.manifests.map((entry, index) => {
    try {
      return parseDescriptor(entry, `manifests[${index}]`);
    } catch (error) {
      throw new RegistryClientError(`${what}: ${(error as Error).message}`);
    }
  });
}
