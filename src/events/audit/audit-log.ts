import type { Logger } from '../../observability/logger.ts';
import type { AuditEntry } from './audit-entry.ts';
import type { AuditStore } from './audit-store.ts';

export interface AuditLogOptions {
  /** How long a deferred entry (a pull) may wait for others to share its INSERT. */
  flushIntervalMs?: number;
  /** A queue this long is written at once, deferred or not. */
  batchSize?: number;
  /** Entries beyond this many waiting (the database is down) are dropped and counted, not held. */
  maxQueued?: number;
  /** Told how many entries each write stored. */
  onWritten?(count: number): void;
  /** Told how many entries were dropped because the queue was full. */
  onDropped?(count: number): void;
}

export interface RecordOptions {
  /**
   * Let the entry wait up to the flush interval for others (pulls: one INSERT for many, never a
   * write per request on the hot path). Other entries are written as soon as the current write ends.
   */
  deferred?: boolean;
}

/**
 * Where audited actions go: a queue in front of the audit_logs table, written in batches by one
 * writer at a time. Recording never waits for the database and never fails the request it
 * describes; a failed write keeps the entries queued and retries, up to `maxQueued`.
 */
export class AuditLog {
  private queue: AuditEntry[] = [];
  private readonly flushIntervalMs: number;
  private readonly batchSize: number;
  private readonly maxQueued: number;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  private writing: Promise<void> | undefined;
  private closed = false;
  private lastFailureLogged = 0;

  constructor(
    readonly store: AuditStore,
    private readonly logger: Logger,
    private readonly options: AuditLogOptions = {},
  ) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.batchSize = options.batchSize ?? 500;
    this.maxQueued = options.maxQueued ?? 50_000;
  }

  record(entry: AuditEntry, options: RecordOptions = {}): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxQueued) {
      this.options.onDropped?.(1);
      return;
    }
    this.queue.push(entry);
    const urgent = options.deferred !== true || this.queue.length >= this.batchSize;
    this.schedule(urgent ? 0 : this.flushIntervalMs);
  }

  /** Writes everything queued so far; resolves once it is stored (or the write failed and was logged). */
  async flush(): Promise<void> {
    this.cancelTimer();
    for (;;) {
      if (this.writing) {
        await this.writing;
        continue;
      }
      if (this.queue.length === 0) return;
      const attempt = this.writeQueued();
      this.writing = attempt.then(
        () => {
          this.writing = undefined;
        },
        () => {
          this.writing = undefined;
        },
      );
      // A failed write has queued its entries again and scheduled the retry.
      if (!(await attempt)) return;
    }
  }

  /** Writes what is queued and stops recording. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private schedule(delayMs: number): void {
    const due = Date.now() + delayMs;
    if (this.timer && this.timerDue <= due) return;
    this.cancelTimer();
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Number.POSITIVE_INFINITY;
      void this.flush();
    }, delayMs);
    this.timer.unref();
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
  }

  /** Writes the queue as it is now; false when the write failed. */
  private async writeQueued(): Promise<boolean> {
    const batch = this.queue;
    this.queue = [];
    try {
      await this.store.insert(batch);
      this.options.onWritten?.(batch.length);
      return true;
    } catch (error) {
      // Back to the front, in order; whatever no longer fits is dropped.
      const kept = [...batch, ...this.queue];
      const dropped = Math.max(0, kept.length - this.maxQueued);
      this.queue = kept.slice(0, this.maxQueued);
      if (dropped > 0) this.options.onDropped?.(dropped);
      const now = Date.now();
      if (now - this.lastFailureLogged > 60_000) {
        this.lastFailureLogged = now;
        this.logger.error({ err: error, queued: this.queue.length }, 'writing the audit log failed; retrying');
      }
      if (!this.closed) this.schedule(this.flushIntervalMs);
      return false;
    }
  }
}
