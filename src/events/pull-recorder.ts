import type { Kysely } from 'kysely';
import type { Database } from '../metadata/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { RegistryEvent } from './event.ts';
import type { EventPublisher } from './event-publisher.ts';

export interface PullRecorderOptions {
  /** Queued pulls are written at most this long after the first of them. */
  flushIntervalMs: number;
  /** A queue this long is written at once. */
  batchSize?: number;
  /** Pulls beyond this many waiting (the database is down) are dropped and counted. */
  maxQueued?: number;
  /** Told how many pull events were dropped because the queue was full. */
  onDropped?(count: number): void;
}

/**
 * Pull events, kept off the pull path: a pull only appends its event to a queue in memory, and
 * the queue is written to the outbox in one transaction per batch. Pulls change nothing, so there
 * is no transaction to share; what is queued when the process is killed is lost (docs/events.md).
 */
export class PullRecorder {
  private queue: RegistryEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private closed = false;
  private lastFailureLogged = 0;
  private readonly batchSize: number;
  private readonly maxQueued: number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
    private readonly options: PullRecorderOptions,
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.maxQueued = options.maxQueued ?? 50_000;
  }

  record(event: RegistryEvent): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxQueued) {
      this.options.onDropped?.(1);
      return;
    }
    this.queue.push(event);
    if (this.queue.length >= this.batchSize) this.schedule(0);
    else this.schedule(this.options.flushIntervalMs);
  }

  /** Writes everything queued so far; stops early (keeping the rest queued) when a write fails. */
  async flush(): Promise<void> {
    this.clearTimer();
    for (;;) {
      if (this.writing) {
        await this.writing;
        continue;
      }
      if (this.queue.length === 0) return;
      let written = false;
      this.writing = this.writeBatch().then((ok) => {
        written = ok;
        this.writing = undefined;
      });
      await this.writing;
      if (!written) return;
    }
  }

  /** Writes what is queued and stops taking more. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined && delayMs > 0) return;
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async writeBatch(): Promise<boolean> {
    const batch = this.queue.slice(0, this.batchSize);
    try {
      await this.db.transaction().execute((trx) => this.publisher.record(trx, batch));
      this.queue = this.queue.slice(batch.length);
      return true;
    } catch (error) {
      // Kept for the next attempt; the queue bound decides what is given up.
      const now = Date.now();
      if (now - this.lastFailureLogged > 10_000) {
        this.lastFailureLogged = now;
        this.logger.warn({ err: error, queued: this.queue.length }, 'pull events could not be written; retrying');
      }
      if (!this.closed) this.schedule(this.options.flushIntervalMs);
      return false;
    }
  }
}
