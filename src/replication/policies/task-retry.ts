import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryable } from '../client/index.ts';

export interface TaskRetryOptions {
  /** Tries per task, the first included. */
  attempts: number;
  /** Wait before the first retry; doubled for each further one, up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export const defaultTaskRetry: TaskRetryOptions = { attempts: 5, initialDelayMs: 2_000, maxDelayMs: 60_000 };

/**
 * Runs `attempt` until it succeeds, fails in a way a retry cannot fix, or has been tried
 * `attempts` times; waits with exponential backoff between tries. The registry client already
 * retries single requests: this retries the whole artifact, after a remote that went away for
 * longer (restarted, redeployed) is back, and what was copied before is then skipped.
 */
export async function withTaskRetry<T>(
  options: TaskRetryOptions,
  signal: AbortSignal,
  attempt: (number: number) => Promise<T>,
  onRetry: (number: number, error: unknown, delayMs: number) => void,
): Promise<T> {
  for (let number = 1; ; number++) {
    try {
      return await attempt(number);
    } catch (error) {
      if (signal.aborted || number >= options.attempts || !isTransient(error)) throw error;
      const delay = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** (number - 1));
      onRetry(number, error, delay);
      await sleep(delay, undefined, { signal });
    }
  }
}

/** A lost connection, a timeout, 429 or 5xx anywhere in the chain of causes. */
export function isTransient(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (isRetryable(current)) return true;
    current = current.cause;
  }
  return false;
}
