import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Spaces requests out to at most `perSecond` on average, allowing a burst of one second's worth
 * (the generic cell rate algorithm). Each caller reserves its slot synchronously, so concurrent
 * callers queue in arrival order without a lock.
 */
export class RequestRateLimiter {
  private readonly intervalMs: number;
  private readonly burstMs: number;
  /** When the next request would be due if requests came exactly one interval apart. */
  private theoreticalArrival = 0;

  constructor(perSecond: number) {
    if (!(perSecond > 0)) throw new Error('requests per second must be positive');
    this.intervalMs = 1000 / perSecond;
    this.burstMs = 1000 - this.intervalMs;
  }

  async acquire(): Promise<void> {
    const now = performance.now();
    const arrival = Math.max(this.theoreticalArrival, now);
    this.theoreticalArrival = arrival + this.intervalMs;
    const wait = arrival - now - this.burstMs;
    if (wait > 0) await sleep(wait);
  }
}
