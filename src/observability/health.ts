import type { StorageDriver } from '../storage/driver.ts';

export interface HealthCheck {
  name: string;
  /** Resolves when the dependency is reachable, rejects with the reason when it is not. */
  check(): Promise<void>;
  intervalMs: number;
  /** Consecutive failures before the check counts as unhealthy (Distribution's `threshold`). */
  threshold: number;
  /** A run slower than this fails; defaults to intervalMs so runs never pile up. */
  timeoutMs?: number;
}

export interface CheckStatus {
  ok: boolean;
  /** The last failure's message, until the check succeeds again. */
  error?: string;
  consecutiveFailures: number;
}

export interface HealthStatus {
  ok: boolean;
  checks: Record<string, CheckStatus>;
}

export interface HealthMonitor {
  status(): HealthStatus;
  /** Runs every check now, then every intervalMs in the background; resolves after the first round. */
  start(): Promise<void>;
  stop(): void;
  /** Runs every check once, outside the schedule. */
  runChecks(): Promise<void>;
}

interface CheckState {
  consecutiveFailures: number;
  error?: string;
}

/**
 * Background health checks with Distribution's semantics: a check turns unhealthy only after
 * `threshold` consecutive failures, and healthy again on its first success. Readiness reads the
 * last results and never waits on a dependency.
 */
export function createHealthMonitor(checks: readonly HealthCheck[]): HealthMonitor {
  const states = new Map<HealthCheck, CheckState>(checks.map((check) => [check, { consecutiveFailures: 0 }]));
  const timers = new Set<NodeJS.Timeout>();
  let running = false;
  /** Bumped by stop(), so a run still in progress when stopped never schedules another. */
  let generation = 0;

  async function runCheck(check: HealthCheck): Promise<void> {
    const state = states.get(check)!;
    try {
      await withTimeout(check.check(), check.timeoutMs ?? check.intervalMs, check.name);
      state.consecutiveFailures = 0;
      delete state.error;
    } catch (error) {
      state.consecutiveFailures += 1;
      state.error = error instanceof Error ? error.message : String(error);
    }
  }

  async function loop(check: HealthCheck, started: number): Promise<void> {
    await runCheck(check);
    if (!running || started !== generation) return;
    // Chained timeouts rather than an interval: a slow run delays the next instead of overlapping it.
    const timer = setTimeout(() => {
      timers.delete(timer);
      void loop(check, started);
    }, check.intervalMs);
    timer.unref();
    timers.add(timer);
  }

  return {
    status() {
      const result: HealthStatus = { ok: true, checks: {} };
      for (const [check, state] of states) {
        const ok = state.consecutiveFailures < Math.max(1, check.threshold);
        if (!ok) result.ok = false;
        const entry: CheckStatus = { ok, consecutiveFailures: state.consecutiveFailures };
        if (state.error !== undefined) entry.error = state.error;
        result.checks[check.name] = entry;
      }
      return result;
    },
    async start() {
      if (running) return;
      running = true;
      const started = generation;
      await Promise.all(checks.map((check) => loop(check, started)));
    },
    stop() {
      running = false;
      generation += 1;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
    async runChecks() {
      await Promise.all(checks.map((check) => runCheck(check)));
    },
  };
}

function withTimeout(work: Promise<void>, timeoutMs: number, name: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} check timed out after ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export interface StorageHealthOptions {
  intervalMs: number;
  threshold: number;
  timeoutMs?: number;
}

/** The storage reachability check, named like Distribution's (`storagedriver_<driver>`). */
export function storageHealthCheck(driver: StorageDriver, options: StorageHealthOptions): HealthCheck {
  return { name: `storagedriver_${driver.name}`, check: () => driver.ping(), ...options };
}
