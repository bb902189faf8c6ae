export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * Distribution's `threshold` and `backoff` as a circuit breaker: after `threshold` consecutive
 * failed requests the endpoint is left alone for `openMs`, then one request tries it (half-open);
 * success closes the circuit, failure opens it again. While open, deliveries wait without
 * spending attempts. The state is this instance's own.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trial = false;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  state(): CircuitState {
    if (this.failures < this.threshold) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  /** Whether a request may go out now: always when closed, one at a time when half-open. */
  allows(): boolean {
    const state = this.state();
    if (state === 'closed') return true;
    if (state === 'open' || this.trial) return false;
    return true;
  }

  /** Marks the start of a request (the half-open trial, when it is one). */
  begin(): void {
    if (this.state() === 'half-open') this.trial = true;
  }

  succeeded(): void {
    this.failures = 0;
    this.openUntil = 0;
    this.trial = false;
  }

  /** Counts a failed request; true when it opened the circuit. */
  failed(): boolean {
    this.trial = false;
    this.failures++;
    if (this.failures < this.threshold) return false;
    this.openUntil = this.now() + this.openMs;
    return true;
  }
}
