export interface RetrySchedule {
  /** The delay before the first retry. */
  initialDelayMs: number;
  /** No retry waits longer than this. */
  maxDelayMs: number;
}

/**
 * How long to wait after the `attempts`-th failed attempt: doubling from the initial delay up to
 * the maximum, with "equal jitter" (half fixed, half random) so that deliveries failed together do
 * not all come back in the same instant.
 */
export function retryDelayMs(attempts: number, schedule: RetrySchedule, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 40);
  const ceiling = Math.min(schedule.maxDelayMs, schedule.initialDelayMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
