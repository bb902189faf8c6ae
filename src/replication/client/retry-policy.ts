import { setTimeout as delay } from 'node:timers/promises';
import { RegistryClientError } from './registry-client-error.ts';

export interface RetryOptions {
  /** How many times a request is sent at most, the first included (1: never retried). Default 5. */
  attempts?: number;
  /** The wait before the first retry; it doubles with each retry. Default 500 ms. */
  initialDelayMs?: number;
  /** The longest wait between two tries computed by backoff. Default 30 s. */
  maxDelayMs?: number;
  /**
   * The longest Retry-After the client will wait; a registry asking for more fails the request
   * at once (with the wait in the error) rather than stalling the run. Default 5 min.
   */
  maxRetryAfterMs?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  return {
    attempts: Math.max(1, options.attempts ?? 5),
    initialDelayMs: options.initialDelayMs ?? 500,
    maxDelayMs: options.maxDelayMs ?? 30_000,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 5 * 60_000,
  };
}

/** 429 and the 5xx answers that mean "try again": overloaded, restarting, a gateway in between. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

const retryableCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** A lost or refused connection or a timeout, found anywhere in the cause chain. */
export function isConnectionError(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth += 1) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code !== undefined && retryableCodes.has(code)) return true;
    if (current instanceof AggregateError && current.errors.some(isConnectionError)) return true;
    current = current.cause;
  }
  return false;
}

/** Whether trying the same operation again may succeed. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof RegistryClientError) return error.retryable;
  return isConnectionError(error);
}

/**
 * Retry-After as seconds or an HTTP date, in milliseconds from `now`; undefined when absent or
 * unreadable.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The wait before retry number `retry` (1 for the first): what the registry asked for when it
 * said, else exponential backoff with jitter (between half and all of the doubled delay) so that
 * many clients do not come back in step.
 */
export function retryDelayMs(retry: number, policy: RetryPolicy, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  await delay(ms, undefined, signal ? { signal } : undefined);
}
