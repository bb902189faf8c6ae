import type { Readable } from 'node:stream';
import type { Digest } from '../../oci/digest.ts';
import { RegistryError } from '../../oci/errors.ts';
import {
  isRegistryClientError,
  type ManifestContent,
  type ManifestHead,
  type ProxyOptions,
  RegistryClient,
} from '../client/index.ts';
import type { UpstreamSettings } from './upstream-settings.ts';

/**
 * How an upstream failed, as the cache acts on it: an unreachable, overloaded or rate-limiting
 * upstream lets a cached copy be served (stale-if-error); a missing manifest or blob is a 404.
 */
export type UpstreamFailureKind = 'unreachable' | 'throttled' | 'not-found' | 'refused' | 'invalid';

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamError';
  }

  /** The answer for a client when nothing cached can stand in. */
  toRegistryError(what: 'manifest' | 'blob' | 'tags of', reference: string): RegistryError {
    switch (this.kind) {
      case 'not-found':
        if (what === 'tags of') {
          return new RegistryError('NAME_UNKNOWN', `repository ${reference} is not known to the upstream`, {
            detail: { name: reference },
          });
        }
        return new RegistryError(
          what === 'manifest' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN',
          `${what} ${reference} is not in the cache, and the upstream does not have it`,
          { detail: what === 'manifest' ? { reference } : { digest: reference } },
        );
      case 'throttled':
        return new RegistryError(
          'TOOMANYREQUESTS',
          `${what} ${reference} is not in the cache, and the upstream is rate-limiting requests: ${this.message}`,
          this.retryAfterMs === undefined
            ? {}
            : { headers: { 'Retry-After': String(Math.max(1, Math.ceil(this.retryAfterMs / 1000))) } },
        );
      case 'refused':
        return new RegistryError(
          'DENIED',
          `${what} ${reference} is not in the cache, and the upstream refused it: ${this.message}`,
        );
      case 'invalid':
        return new RegistryError('UNAVAILABLE', `the upstream sent an invalid ${what} ${reference}: ${this.message}`, {
          status: 502,
        });
      case 'unreachable':
        return new RegistryError(
          'UNAVAILABLE',
          `${what} ${reference} is not in the cache, and the upstream cannot be reached: ${this.message}`,
          { headers: { 'Retry-After': '30' } },
        );
    }
  }
}

export interface UpstreamClientOptions {
  /** An HTTP(S) proxy for the upstream; the HTTPS_PROXY/NO_PROXY variables apply otherwise. */
  proxy?: ProxyOptions;
  userAgent: string;
}

/** How long a revalidation may take before the cached copy is served instead. */
const revalidationBudgetMs = 5_000;
/** How long after failing an upstream is not asked about cached tags (unless it said how long). */
const cooldownMs = 30_000;
const maxCooldownMs = 5 * 60_000;

/**
 * One upstream registry as the cache uses it, through the registry client: few retries and no
 * waiting out a long Retry-After, since a puller is waiting and a cached copy may serve instead.
 * After the upstream failed (unreachable, 5xx, 429) it is left alone for a while: cached tags are
 * served without asking, so an outage does not slow every pull down by a timeout.
 */
export class Upstream {
  private readonly client: RegistryClient;
  private coolingUntil = 0;

  constructor(
    readonly settings: UpstreamSettings,
    options: UpstreamClientOptions,
  ) {
    this.client = new RegistryClient({
      registry: settings.url,
      ...(settings.credentials ? { credentials: { ...settings.credentials } } : {}),
      tls: { insecure: settings.insecure, ...(settings.ca ? { ca: settings.ca } : {}) },
      ...(options.proxy === undefined ? {} : { proxy: options.proxy }),
      timeouts: { connectMs: 10_000, headersMs: 60_000, bodyMs: 60_000 },
      retry: { attempts: 3, initialDelayMs: 200, maxDelayMs: 2_000, maxRetryAfterMs: 0 },
      userAgent: options.userAgent,
    });
  }

  /** The URL for messages and logs. */
  get url(): string {
    return this.settings.url;
  }

  async getManifest(repository: string, reference: string): Promise<ManifestContent> {
    return this.classified(() => this.client.getManifest(repository, reference));
  }

  /**
   * What a tag names now, for revalidating a cached copy; undefined when the upstream has no such
   * tag. Throws at once while the upstream is cooling down after a failure, and gives up after a
   * few seconds.
   */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    if (Date.now() < this.coolingUntil) {
      throw new UpstreamError('unreachable', 'it failed recently and is not asked again yet');
    }
    const signal = AbortSignal.timeout(revalidationBudgetMs);
    return this.classified(() => this.client.headManifest(repository, reference, { signal }));
  }

  async statBlob(repository: string, digest: Digest): Promise<number | undefined> {
    return this.classified(() => this.client.statBlob(repository, digest));
  }

  /** The verified blob stream: it fails instead of ending when the bytes do not match the digest. */
  async openBlob(repository: string, digest: Digest): Promise<{ size: number; content: Readable }> {
    return this.classified(() => this.client.openBlob(repository, { digest }));
  }

  /** One page of the upstream's tags, after `last`, read from the upstream's own pages. */
  async listTags(repository: string, limit: number, last: string | undefined): Promise<string[]> {
    return this.classified(async () => {
      const page: string[] = [];
      for await (const tag of this.client.tags(repository, { pageSize: 100 })) {
        if (last !== undefined && tag <= last) continue;
        page.push(tag);
        if (page.length >= limit) break;
      }
      return page;
    });
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async classified<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.coolingUntil = 0;
      return result;
    } catch (error) {
      const failure = classify(error);
      if (failure.kind === 'unreachable' || failure.kind === 'throttled') {
        this.coolingUntil = Date.now() + Math.min(failure.retryAfterMs ?? cooldownMs, maxCooldownMs);
      }
      if (failure.kind !== 'refused') throw failure;
      const credentials = this.settings.credentials;
      // Docker Hub answers an anonymous request for a repository that does not exist with 401 too.
      const why = credentials
        ? `the cache's credentials (user ${credentials.username}) were refused`
        : 'anonymous access was refused (the repository may not exist there, or it needs credentials)';
      throw new UpstreamError('refused', `${why}: ${failure.message}`, undefined, { cause: error });
    }
  }
}

export function classify(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (!isRegistryClientError(error)) {
    return new UpstreamError('unreachable', (error as Error)?.message ?? String(error), undefined, { cause: error });
  }
  const status = error.status;
  if (status === 404) return new UpstreamError('not-found', error.message, undefined, { cause: error });
  if (status === 429) return new UpstreamError('throttled', error.message, error.retryAfterMs, { cause: error });
  if (status === 401 || status === 403) return new UpstreamError('refused', error.message, undefined, { cause: error });
  if (status === undefined && error.code === 'DIGEST_INVALID') {
    return new UpstreamError('invalid', error.message, undefined, { cause: error });
  }
  if (status === undefined || status >= 500) {
    return new UpstreamError('unreachable', error.message, undefined, { cause: error });
  }
  return new UpstreamError('invalid', error.message, undefined, { cause: error });
}
