import type { RegistryServer, ServerKind } from './servers.ts';

/** A target on the Wharf/reference ratio of the figure, or on Wharf's peak resident memory. */
export type Target = { kind: 'min-ratio'; ratio: number } | { kind: 'max-wharf-rss'; bytes: number };

/** A prepared scenario on one server: `measure` does one timed round and returns the units of work done
 * (and, for request-rate scenarios, the median latency). */
export interface ScenarioRun {
  measure(): Promise<{ units: number; latencyMs?: number }>;
}

export interface Scenario {
  /** Stable name for `--only`, e.g. `push-monolithic-1MiB-c8`. */
  id: string;
  title: string;
  /** What `units / second` is: `MB/s`, `req/s`. */
  unit: string;
  target?: Target;
  /** Rounds per server when it differs from the global setting (the 2 GiB push runs once). */
  rounds?: number;
  /**
   * The server each column starts, when not its own kind: the replication scenario compares two
   * ways of filling a Wharf, so both its columns run Wharf.
   */
  servers?: Partial<Record<ServerKind, ServerKind>>;
  /** Further environment of this scenario's Wharf servers. */
  wharfEnv?: Record<string, string>;
  /** Start every round on a fresh server (empty storage), untimed, instead of one server per scenario. */
  freshServerEachRound?: boolean;
  /** Untimed: seed data, compute digests, warm up connections and JIT. `contender` names the column. */
  prepare(server: RegistryServer, contender: ServerKind): Promise<ScenarioRun>;
}

export const MiB = 1024 * 1024;
export const MB = 1_000_000;

export function sizeLabel(bytes: number): string {
  return bytes >= 1024 * MiB ? `${bytes / (1024 * MiB)}GiB` : `${bytes / MiB}MiB`;
}

/** Runs `task` on `concurrency` workers until `total` tasks have been taken; task numbers start at 0. */
export async function runTasks(total: number, concurrency: number, task: (index: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

/** Runs `request` on `concurrency` workers for `durationMs`; returns completed requests and their latencies. */
export async function runForDuration(
  durationMs: number,
  concurrency: number,
  request: () => Promise<void>,
): Promise<{ count: number; latenciesMs: number[] }> {
  const deadline = performance.now() + durationMs;
  const latenciesMs: number[] = [];
  const worker = async () => {
    for (let start = performance.now(); start < deadline; start = performance.now()) {
      await request();
      latenciesMs.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { count: latenciesMs.length, latenciesMs };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? Number.NaN;
}
