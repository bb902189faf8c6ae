import type { Readable } from 'node:stream';
import { RegistryClientError } from './registry-client-error.ts';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** One request to the registry as the client's modules describe it. */
export interface HttpExchange {
  method: HttpMethod;
  /** A path under the registry's base (`/v2/…`, with the query) or an absolute URL (an upload Location). */
  url: string | URL;
  /** The token scopes the request needs. */
  scopes: readonly string[];
  headers?: Record<string, string>;
  /**
   * A Buffer is sent again on a retry; a stream is sent once, so a request carrying one is not
   * retried (the caller starts over with a fresh stream).
   */
  body?: Buffer | Readable;
  /** false: never send again, even with a Buffer body (a PATCH the registry may have half applied). */
  retry?: boolean;
  /** The statuses that are an answer; any other status becomes a RegistryClientError. */
  expect: readonly number[];
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Must be read or destroyed by the caller. */
  body: Readable;
  /** Where the answer came from, after redirects. */
  url: URL;
}

export type Send = (exchange: HttpExchange) => Promise<HttpResponse>;

export function headerValue(headers: HttpResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads a body whole, refusing more than `limit` bytes. */
export async function readBody(body: Readable, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > limit) {
      body.destroy();
      throw new RegistryClientError(`${what} is larger than ${limit} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Reads the body and throws it away, so the connection can be reused. */
export async function discardBody(body: Readable): Promise<void> {
  try {
    for await (const _chunk of body) {
      // drained
    }
  } catch {
    // a body that fails while being discarded changes nothing
  }
}
