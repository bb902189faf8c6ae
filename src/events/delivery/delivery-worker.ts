import type { Logger } from '../../observability/logger.ts';
import type { EventMetrics } from '../../observability/metrics.ts';
import type { ClaimedDelivery, OutboxStore } from '../outbox/outbox-store.ts';
import type { Subscriber } from '../subscriber.ts';
import type { SubscriberDirectory } from '../subscriber-directory.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import type { AttemptResult, HttpDelivery } from './http-delivery.ts';
import type { RepositoryFacts } from './payloads/harbor-payload.ts';
import { carriesSeveral, renderPayload } from './payloads/render-payload.ts';
import type { RepositoryFactsReader } from './repository-facts.ts';
import { type RetrySchedule, retryDelayMs } from './retry-schedule.ts';

export interface DeliveryWorkerOptions {
  /** Names this process on the leases it takes (unique per process). */
  owner: string;
  /** Subscribers served at once by this instance. */
  workers: number;
  maxAttempts: number;
  retry: RetrySchedule;
  /** Events per request in a format that carries several. */
  batchSize: number;
  /** How often to look for due deliveries when nothing wakes the worker earlier. */
  pollIntervalMs: number;
}

/** Requests one job makes in a single-event format before it gives the subscriber back to the queue. */
const singleEventRequestsPerJob = 10;
/** Lease beyond the job's longest possible duration, for the database round trips around it. */
const leaseMarginMs = 10_000;
/** How long newly recorded deliveries wait for others to share their claim. */
const recordedDelayMs = 100;

/**
 * Delivers the outbox, on every instance. Each cycle picks subscribers with due deliveries that are
 * neither busy here nor backed off by their circuit breaker, leases a batch of each one's
 * deliveries, and sends them (oldest first) in a job per subscriber. A success marks them
 * delivered; a failure schedules a retry with exponential backoff and jitter, or makes them dead
 * letters after `maxAttempts`, and hands the rest of the batch back. A lease that lapses (the
 * instance died mid-job) lets any instance take the deliveries again: at least once, not exactly once.
 */
export class DeliveryWorker {
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly busy = new Set<string>();
  private readonly jobs = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private soon: NodeJS.Timeout | undefined;
  private lastFailureLogged = 0;

  constructor(
    private readonly outbox: OutboxStore,
    private readonly directory: SubscriberDirectory,
    private readonly http: HttpDelivery,
    private readonly facts: RepositoryFactsReader,
    private readonly metrics: EventMetrics,
    private readonly logger: Logger,
    private readonly options: DeliveryWorkerOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Looks for due deliveries now (a job ended, a redelivery was asked for). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * New deliveries were recorded: look for them shortly, so that the events of a burst of writes
   * are claimed and marked together (each of those writes is a commit the writes of the registry
   * wait behind) rather than one by one.
   */
  wakeSoon(): void {
    if (this.soon !== undefined) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.wake();
    }, recordedDelayMs);
    this.soon.unref();
  }

  /** Stops taking work; jobs in flight finish their current request and hand the rest back. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.soon);
    this.wake();
    await this.loop;
    await Promise.allSettled([...this.jobs]);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      this.woken = false;
      try {
        await this.cycle();
      } catch (error) {
        this.logFailure(error, 'looking for event deliveries failed');
      }
      if (this.stopping) break;
      if (!this.woken) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollIntervalMs);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        done();
      };
    });
  }

  private async cycle(): Promise<void> {
    const free = this.options.workers - this.busy.size;
    if (free <= 0) return;
    const now = Date.now();
    const backedOff = [...this.breakers].filter(([, breaker]) => !breaker.allows()).map(([key]) => key);
    const due = await this.outbox.dueSubscribers(
      now,
      this.directory.endpoints.map((endpoint) => endpoint.key),
      [...this.busy, ...backedOff],
      free,
    );
    if (due.length === 0) return;
    const webhookIds = due.flatMap((key) => (key.startsWith('webhook:') ? [Number(key.slice('webhook:'.length))] : []));
    const webhooks = await this.directory.webhooksById(webhookIds);
    for (const key of due) {
      const subscriber = key.startsWith('webhook:')
        ? webhooks.get(Number(key.slice('webhook:'.length)))
        : this.directory.endpoint(key);
      if (subscriber === undefined || this.stopping) continue;
      const several = carriesSeveral(subscriber);
      const requests = several ? 1 : singleEventRequestsPerJob;
      const leaseUntil = now + subscriber.timeoutMs * requests + leaseMarginMs;
      const claimed = await this.outbox.claim(
        key,
        this.options.owner,
        now,
        leaseUntil,
        several ? this.options.batchSize : requests,
      );
      if (claimed.length === 0) continue;
      this.busy.add(key);
      const job = this.deliver(subscriber, claimed)
        .catch((error: unknown) => this.logFailure(error, 'event delivery failed'))
        .finally(() => {
          this.busy.delete(key);
          this.jobs.delete(job);
          this.wake();
        });
      this.jobs.add(job);
    }
  }

  /**
   * Sends the claimed deliveries in order, one request per event or one for the batch. Successes
   * are marked together at the end: a crash before that sends them again, which at least once allows.
   */
  private async deliver(subscriber: Subscriber, claimed: ClaimedDelivery[]): Promise<void> {
    const breaker = this.breakerFor(subscriber);
    const facts = await this.factsFor(subscriber, claimed);
    const chunks = carriesSeveral(subscriber) ? [claimed] : claimed.map((delivery) => [delivery]);
    const delivered: { chunk: ClaimedDelivery[]; status: number; latencyMs: number }[] = [];
    try {
      for (const [index, chunk] of chunks.entries()) {
        const rest = () => chunks.slice(index).flatMap((left) => left.map((delivery) => delivery.id));
        if (this.stopping || !breaker.allows()) {
          await this.outbox.release(rest(), this.options.owner);
          return;
        }
        breaker.begin();
        const payload = renderPayload(
          subscriber,
          chunk.map((delivery) => delivery.event),
          (repository) => facts.get(repository),
        );
        const result = await this.http.send({
          subscriber,
          payload,
          eventIds: chunk.map((delivery) => delivery.event.id),
          deliveryId: chunk[0]?.id ?? 0,
        });
        const outcome = result.ok ? 'success' : result.reason;
        this.metrics.observeDelivery(subscriber.kind, outcome, chunk.length, result.latencyMs / 1000);
        if (result.ok) {
          breaker.succeeded();
          delivered.push({ chunk, status: result.status, latencyMs: result.latencyMs });
          continue;
        }
        await this.recordFailure(subscriber, breaker, chunk, result);
        // The subscriber is failing now; the rest of the batch waits for the next attempt.
        await this.outbox.release(rest().slice(chunk.length), this.options.owner);
        return;
      }
    } finally {
      await this.markDelivered(delivered);
    }
  }

  private async markDelivered(delivered: { chunk: ClaimedDelivery[]; status: number; latencyMs: number }[]) {
    await this.outbox.markDelivered(
      delivered.map(({ chunk, status, latencyMs }) => ({
        deliveries: chunk,
        outcome: { status, error: undefined, latencyMs },
      })),
    );
  }

  private async recordFailure(
    subscriber: Subscriber,
    breaker: CircuitBreaker,
    chunk: readonly ClaimedDelivery[],
    result: Extract<AttemptResult, { ok: false }>,
  ): Promise<void> {
    const opened = breaker.failed();
    const dead = await this.outbox.markFailed(
      chunk,
      { status: result.status, error: result.error, latencyMs: result.latencyMs },
      this.options.maxAttempts,
      (attempts) => Date.now() + retryDelayMs(attempts, this.options.retry),
    );
    const context = { subscriber: subscriber.key, name: subscriber.name, reason: result.reason, error: result.error };
    this.logger.warn({ ...context, events: chunk.length }, 'event delivery failed; it will be retried');
    if (opened) {
      this.logger.warn({ ...context, openMs: subscriber.breaker.openMs }, 'event subscriber backed off (circuit open)');
    }
    if (dead.length > 0) {
      this.metrics.countDeadLetters(subscriber.kind, dead.length);
      this.logger.error(
        { ...context, deliveries: dead.map((delivery) => delivery.id), attempts: this.options.maxAttempts },
        'event deliveries gave up after their last attempt (dead letters)',
      );
    }
  }

  private breakerFor(subscriber: Subscriber): CircuitBreaker {
    let breaker = this.breakers.get(subscriber.key);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(subscriber.breaker.threshold, subscriber.breaker.openMs);
      this.breakers.set(subscriber.key, breaker);
    }
    return breaker;
  }

  private async factsFor(
    subscriber: Subscriber,
    claimed: readonly ClaimedDelivery[],
  ): Promise<Map<string, RepositoryFacts>> {
    if (subscriber.format === 'distribution') return new Map();
    const repositories = claimed.flatMap((delivery) => delivery.event.target.repository ?? []);
    return this.facts.read(repositories);
  }

  private logFailure(error: unknown, message: string): void {
    const now = Date.now();
    if (now - this.lastFailureLogged < 10_000) return;
    this.lastFailureLogged = now;
    this.logger.warn({ err: error }, message);
  }
}
