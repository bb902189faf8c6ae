import { setTimeout as sleep } from 'node:timers/promises';

/** How far ahead of the rate a burst may run: a quarter of a second's worth of bytes. */
const burstSeconds = 0.25;

/**
 * A token bucket shared by every transfer of one execution, so a limit of N bytes/s holds for the
 * execution as a whole, however many artifacts it copies at once.
 */
export class BandwidthLimiter {
  private nextFreeAt = 0;

  constructor(private readonly bytesPerSecond: number) {}

  /** Resolves once `bytes` may be sent; rejects when `signal` aborts first. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    const now = performance.now();
    const start = Math.max(now - burstSeconds * 1000, this.nextFreeAt);
    this.nextFreeAt = start + (bytes / this.bytesPerSecond) * 1000;
    const wait = this.nextFreeAt - now;
    if (wait > 1) await sleep(wait, undefined, signal ? { signal } : undefined);
  }
}
