import { readFileSync } from 'node:fs';

// Figures of the server process itself (the compiled build run by plain node); no descendant is counted.

const clockTicksPerSecond = 100;

/** Resident set and its high-water mark in bytes, from /proc/<pid>/status. */
export function readMemory(pid: number): { rss: number; peak: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** User + system CPU seconds the process has consumed so far. */
export function readCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces; after its closing paren, utime and stime are fields 12 and 13.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
  } catch {
    return 0;
  }
}

/** Samples a process's resident set while a scenario runs and keeps the highest figure. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private sampledPeak = 0;
  private kernelPeak = 0;
  /** Resident set at the first sample, taken right after the server started answering. */
  startBytes = 0;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 50,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /** The higher of the sampled VmRSS and the kernel's VmHWM (which catches spikes between samples). */
  peakBytes(): number {
    return Math.max(this.sampledPeak, this.kernelPeak);
  }

  private sample(): void {
    const memory = readMemory(this.pid);
    if (!memory) return;
    if (this.startBytes === 0) this.startBytes = memory.rss;
    this.sampledPeak = Math.max(this.sampledPeak, memory.rss);
    this.kernelPeak = Math.max(this.kernelPeak, memory.peak);
  }
}
