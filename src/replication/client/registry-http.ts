import { Readable } from 'node:stream';
import { type Dispatcher, request } from 'undici';
import type { CredentialSource } from './credentials.ts';
import { createDispatcher, type ProxyOptions, type TimeoutOptions, type TlsOptions } from './http-dispatcher.ts';
import { discardBody, type HttpExchange, type HttpResponse, headerValue, readBody } from './http-exchange.ts';
import { RegistryAuth } from './registry-auth.ts';
import { parseErrorBody, RegistryClientError } from './registry-client-error.ts';
import { canonicalRegistryHost, registryBaseUrl } from './registry-host.ts';
import {
  isConnectionError,
  isRetryableStatus,
  parseRetryAfter,
  type RetryOptions,
  type RetryPolicy,
  retryDelayMs,
  retryPolicy,
  sleep,
} from './retry-policy.ts';
import { parseWwwAuthenticate } from './www-authenticate.ts';

export interface RegistryHttpOptions {
  /**
   * The registry: `https://registry.example.com`, `http://127.0.0.1:5000` (a path prefix is kept),
   * or a bare `host[:port]`, which means HTTPS (`docker.io` means Docker Hub's API host).
   */
  registry: string;
  credentials?: CredentialSource;
  tls?: TlsOptions;
  proxy?: ProxyOptions;
  timeouts?: TimeoutOptions;
  retry?: RetryOptions;
  /** Default `wharf-registry-client`. */
  userAgent?: string;
  /** Share connection pools with other clients; the client then leaves it open on close(). */
  dispatcher?: Dispatcher;
}

const maxErrorBytes = 64 * 1024;
const maxRedirects = 5;

/**
 * How the client talks HTTP to one registry: the base URL (with skopeo's HTTP fallback for an
 * insecure bare host), authentication as the registry asks, redirects, retries with backoff, and
 * error answers turned into RegistryClientError. The registry's API is RegistryClient's business.
 */
export class RegistryHttp {
  /** The registry's canonical name (`docker.io`, `registry.example.com:5000`). */
  readonly registry: string;
  readonly retry: RetryPolicy;
  private readonly registryOption: string;
  private readonly auth: RegistryAuth;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly userAgent: string;
  private readonly insecure: boolean;
  private base: Promise<URL> | undefined;

  constructor(options: RegistryHttpOptions) {
    this.registryOption = options.registry;
    this.registry = canonicalRegistryHost(registryBaseUrl(options.registry).host);
    this.dispatcher =
      options.dispatcher ?? createDispatcher({ tls: options.tls, timeouts: options.timeouts, proxy: options.proxy });
    this.ownsDispatcher = options.dispatcher === undefined;
    this.retry = retryPolicy(options.retry);
    this.userAgent = options.userAgent ?? 'wharf-registry-client';
    this.insecure = options.tls?.insecure ?? false;
    this.auth = new RegistryAuth(options.credentials, async (url, init) => {
      const response = await this.send({
        method: init.method,
        url,
        scopes: [],
        headers: init.headers,
        ...(init.body === undefined ? {} : { body: Buffer.from(init.body) }),
        expect: [200, 400, 401, 403, 404],
        authenticate: false,
      });
      return { status: response.status, text: (await readBody(response.body, maxErrorBytes, 'token')).toString() };
    });
  }

  /** What the registry's last challenge asked for (`basic`, `bearer`), if it has challenged. */
  get authScheme(): string | undefined {
    return this.auth.scheme;
  }

  /** The base URL requests go to (HTTPS, or HTTP for an insecure bare host whose HTTPS failed). */
  baseUrl(): Promise<URL> {
    this.base ??= this.chooseBase();
    return this.base;
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /**
   * Sends a request: authenticated as the registry asks, redirects followed, 429/5xx and lost
   * connections retried with backoff (not for a streamed body), other statuses outside `expect`
   * turned into a RegistryClientError.
   */
  async send(exchange: HttpExchange & { authenticate?: boolean }): Promise<HttpResponse> {
    const url = typeof exchange.url === 'string' ? await this.resolve(exchange.url) : exchange.url;
    const replayable = exchange.retry !== false && !(exchange.body instanceof Readable);
    for (let attempt = 1; ; attempt += 1) {
      let response: HttpResponse;
      try {
        response = await this.sendAuthenticated(url, exchange);
      } catch (error) {
        if (error instanceof RegistryClientError) throw error;
        const retryable = isConnectionError(error);
        if (retryable && replayable && attempt < this.retry.attempts) {
          await sleep(retryDelayMs(attempt, this.retry), exchange.signal);
          continue;
        }
        throw new RegistryClientError(`${exchange.method} ${describeUrl(url)}: ${describeCause(error)}`, {
          retryable,
          cause: error,
          method: exchange.method,
          url: url.href,
        });
      }
      if (exchange.expect.includes(response.status)) return response;
      const error = await this.errorOf(exchange.method, response);
      const wait = error.retryAfterMs;
      if (error.retryable && replayable && attempt < this.retry.attempts && (wait ?? 0) <= this.retry.maxRetryAfterMs) {
        await sleep(retryDelayMs(attempt, this.retry, wait), exchange.signal);
        continue;
      }
      throw error;
    }
  }

  private async sendAuthenticated(
    url: URL,
    exchange: HttpExchange & { authenticate?: boolean },
  ): Promise<HttpResponse> {
    if (exchange.authenticate === false) return this.dispatch(url, exchange, undefined);
    const authorization = await this.auth.authorization(exchange.scopes);
    const response = await this.dispatch(url, exchange, authorization);
    if (response.status !== 401) return response;
    const challenges = parseWwwAuthenticate(response.headers['www-authenticate']);
    const scopes = await this.auth.challenged(challenges, exchange.scopes, authorization);
    if (scopes === undefined || exchange.body instanceof Readable) return response;
    await discardBody(response.body);
    return this.dispatch(url, exchange, await this.auth.authorization(scopes));
  }

  /** One request, following redirects of GET and HEAD; credentials never go to another origin. */
  private async dispatch(url: URL, exchange: HttpExchange, authorization: string | undefined): Promise<HttpResponse> {
    let current = url;
    let credentials = authorization;
    for (let hops = 0; ; hops += 1) {
      const answer = await request(current, {
        dispatcher: this.dispatcher,
        method: exchange.method,
        headers: {
          'user-agent': this.userAgent,
          ...exchange.headers,
          ...(credentials === undefined ? {} : { authorization: credentials }),
        },
        ...(exchange.body === undefined ? {} : { body: exchange.body }),
        ...(exchange.signal === undefined ? {} : { signal: exchange.signal }),
      });
      const location = headerValue(answer.headers, 'location');
      const follow =
        (exchange.method === 'GET' || exchange.method === 'HEAD') &&
        [301, 302, 303, 307, 308].includes(answer.statusCode) &&
        location !== undefined &&
        hops < maxRedirects;
      if (!follow) return { status: answer.statusCode, headers: answer.headers, body: answer.body, url: current };
      await discardBody(answer.body);
      const next = new URL(location, current);
      if (next.origin !== current.origin) credentials = undefined;
      current = next;
    }
  }

  private async errorOf(method: string, response: HttpResponse): Promise<RegistryClientError> {
    let text = '';
    try {
      text = (await readBody(response.body, maxErrorBytes, 'error body')).toString('utf8');
    } catch {
      // an unreadable or oversized error body: the status says enough
    }
    const errors = parseErrorBody(text);
    const first = errors[0];
    const said = first ? `${first.code}${first.message ? `: ${first.message}` : ''}` : text.trim().slice(0, 200);
    return new RegistryClientError(
      `${method} ${describeUrl(response.url)}: ${response.status}${said ? ` ${said}` : ''}`,
      {
        status: response.status,
        errors,
        method,
        url: response.url.href,
        retryable: isRetryableStatus(response.status),
        retryAfterMs: parseRetryAfter(headerValue(response.headers, 'retry-after')),
      },
    );
  }

  private async resolve(path: string): Promise<URL> {
    const base = await this.baseUrl();
    return new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}${path}`);
  }

  /** skopeo's `--tls-verify=false` for a bare host: HTTPS without verification, HTTP if HTTPS fails. */
  private async chooseBase(): Promise<URL> {
    const https = registryBaseUrl(this.registryOption);
    if (/^https?:\/\//i.test(this.registryOption) || !this.insecure) return https;
    try {
      const answer = await request(new URL('/v2/', https), {
        dispatcher: this.dispatcher,
        method: 'GET',
        headers: { 'user-agent': this.userAgent },
      });
      await discardBody(answer.body);
      return https;
    } catch {
      const http = new URL(https);
      http.protocol = 'http:';
      return http;
    }
  }
}

function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function describeCause(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') return error.errors.map(describeCause).join('; ');
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
