import type { Kysely, SelectQueryBuilder, Transaction } from 'kysely';
import { isPostgres } from '../../metadata/migrations/column-types.ts';
import type { Database } from '../../metadata/schema.ts';
import { eventProject, type RegistryEvent } from '../event.ts';
import type { Subscriber } from '../subscriber.ts';

export const deliveryStates = ['pending', 'delivered', 'dead'] as const;
export type DeliveryState = (typeof deliveryStates)[number];

/** An event recorded for the subscribers that want it. */
export interface OutboxEntry {
  event: RegistryEvent;
  subscribers: readonly Subscriber[];
}

/** A delivery a worker holds the lease of, with its event. */
export interface ClaimedDelivery {
  id: number;
  subscriber: string;
  webhookId: number | null;
  attempts: number;
  event: RegistryEvent;
}

/** One row of a subscriber's delivery log. */
export interface DeliveryRecord {
  id: number;
  eventId: string;
  action: string;
  state: DeliveryState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  lastLatencyMs: number | null;
  createdAt: number;
  updatedAt: number;
  nextAttemptAt: number;
  deliveredAt: number | null;
}

/** The outcome of one attempt, for every delivery it carried. */
export interface AttemptOutcome {
  status: number | undefined;
  error: string | undefined;
  latencyMs: number;
}

export interface OutboxStats {
  pending: number;
  dead: number;
  /** When the oldest pending delivery was recorded; undefined with none pending. */
  oldestPendingAt: number | undefined;
}

/** Rows per INSERT: a few thousand bound values, inside both dialects' limits. */
const insertChunk = 200;
/** Rows per DELETE while purging, so no statement holds locks for long. */
const purgeChunk = 5_000;
/** How far down the queue a worker looks for subscribers with due deliveries. */
const dueScanRows = 200;

/**
 * The outbox tables: events with one delivery row per subscriber, claimed by workers under a
 * lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer otherwise), so each
 * delivery is attempted by one instance at a time and retried by another once a lease lapses.
 */
export class OutboxStore {
  private readonly postgres: boolean;

  constructor(readonly db: Kysely<Database>) {
    this.postgres = isPostgres(db);
  }

  /** Writes the events that have subscribers, and their deliveries, inside `trx`. */
  async insert(trx: Transaction<Database>, entries: readonly OutboxEntry[], now = Date.now()): Promise<number> {
    const wanted = entries.filter((entry) => entry.subscribers.length > 0);
    if (wanted.length === 0) return 0;
    const events = wanted.map(({ event }) => ({
      id: event.id,
      action: event.action,
      project: eventProject(event) ?? null,
      occurred_at: Date.parse(event.timestamp),
      payload: JSON.stringify(event),
    }));
    for (let start = 0; start < events.length; start += insertChunk) {
      await trx
        .insertInto('event_outbox')
        .values(events.slice(start, start + insertChunk))
        .execute();
    }
    const deliveries = wanted.flatMap(({ event, subscribers }) =>
      subscribers.map((subscriber) => ({
        event_id: event.id,
        subscriber: subscriber.key,
        webhook_id: subscriber.webhookId ?? null,
        state: 'pending',
        attempts: 0,
        next_attempt_at: now,
        lease_until: 0,
        created_at: now,
        updated_at: now,
      })),
    );
    for (let start = 0; start < deliveries.length; start += insertChunk) {
      await trx
        .insertInto('event_deliveries')
        .values(deliveries.slice(start, start + insertChunk))
        .execute();
    }
    return deliveries.length;
  }

  /**
   * Subscribers with deliveries due now that nobody holds, oldest work first: configured endpoints
   * (`endpointKeys`) and enabled webhook policies, minus `exclude` (busy or backed off).
   */
  async dueSubscribers(
    now: number,
    endpointKeys: readonly string[],
    exclude: readonly string[],
    limit: number,
  ): Promise<string[]> {
    const rows = await this.db
      .selectFrom('event_deliveries')
      .select('subscriber')
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where('lease_until', '<=', now)
      .where((eb) => {
        const enabledWebhook = eb(
          'webhook_id',
          'in',
          eb.selectFrom('webhook_policies').select('id').where('enabled', '=', 1),
        );
        return endpointKeys.length === 0
          ? enabledWebhook
          : eb.or([eb('subscriber', 'in', [...endpointKeys]), enabledWebhook]);
      })
      .$if(exclude.length > 0, (query) => query.where('subscriber', 'not in', [...exclude]))
      .orderBy('next_attempt_at')
      .limit(dueScanRows)
      .execute();
    return [...new Set(rows.map((row) => row.subscriber))].slice(0, limit);
  }

  /** Leases up to `limit` due deliveries of one subscriber to `owner` until `leaseUntil`. */
  async claim(
    subscriber: string,
    owner: string,
    now: number,
    leaseUntil: number,
    limit: number,
  ): Promise<ClaimedDelivery[]> {
    const claimed = await this.db
      .updateTable('event_deliveries')
      .set({ lease_owner: owner, lease_until: leaseUntil })
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('event_deliveries')
          .select('id')
          .where('subscriber', '=', subscriber)
          .where('state', '=', 'pending')
          .where('next_attempt_at', '<=', now)
          .where('lease_until', '<=', now)
          .orderBy('next_attempt_at')
          .orderBy('id')
          .limit(limit)
          .$if(this.postgres, (query) => query.forUpdate().skipLocked()),
      )
      .returning(['id', 'event_id', 'subscriber', 'webhook_id', 'attempts'])
      .execute();
    if (claimed.length === 0) return [];
    const payloads = await this.db
      .selectFrom('event_outbox')
      .select(['id', 'payload'])
      .where('id', 'in', [...new Set(claimed.map((row) => row.event_id))])
      .execute();
    const events = new Map(payloads.map((row) => [row.id, JSON.parse(row.payload) as RegistryEvent]));
    return claimed
      .map((row) => ({
        id: Number(row.id),
        subscriber: row.subscriber,
        webhookId: row.webhook_id,
        attempts: row.attempts,
        event: events.get(row.event_id),
      }))
      .filter((row): row is ClaimedDelivery => row.event !== undefined)
      .sort((left, right) => left.id - right.id);
  }

  /** Gives leased deliveries back untried, for another worker (or this one) to take at once. */
  async release(ids: readonly number[], owner: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('event_deliveries')
      .set({ lease_owner: null, lease_until: 0 })
      .where('id', 'in', [...ids])
      .where('lease_owner', '=', owner)
      .execute();
  }

  /** Marks deliveries delivered, each group with the answer its request got, in one transaction. */
  async markDelivered(
    groups: readonly { deliveries: readonly ClaimedDelivery[]; outcome: AttemptOutcome }[],
    now = Date.now(),
  ): Promise<void> {
    const nonEmpty = groups.filter((group) => group.deliveries.length > 0);
    if (nonEmpty.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const { deliveries, outcome } of nonEmpty) {
        await trx
          .updateTable('event_deliveries')
          .set((eb) => ({
            state: 'delivered',
            attempts: eb('attempts', '+', 1),
            last_status: outcome.status ?? null,
            last_error: null,
            last_latency_ms: Math.round(outcome.latencyMs),
            lease_owner: null,
            lease_until: 0,
            delivered_at: now,
            updated_at: now,
          }))
          .where(
            'id',
            'in',
            deliveries.map((delivery) => delivery.id),
          )
          .execute();
      }
    });
  }

  /**
   * Records a failed attempt: each delivery is retried at the time `retryAt` gives for its attempt
   * count, or becomes dead once it has had `maxAttempts`. Returns the deliveries that died.
   */
  async markFailed(
    deliveries: readonly ClaimedDelivery[],
    outcome: AttemptOutcome,
    maxAttempts: number,
    retryAt: (attempts: number) => number,
    now = Date.now(),
  ): Promise<ClaimedDelivery[]> {
    const dead: ClaimedDelivery[] = [];
    await this.db.transaction().execute(async (trx) => {
      for (const delivery of deliveries) {
        const attempts = delivery.attempts + 1;
        const exhausted = attempts >= maxAttempts;
        if (exhausted) dead.push(delivery);
        await trx
          .updateTable('event_deliveries')
          .set({
            state: exhausted ? 'dead' : 'pending',
            attempts,
            next_attempt_at: exhausted ? now : retryAt(attempts),
            last_status: outcome.status ?? null,
            last_error: outcome.error?.slice(0, 500) ?? null,
            last_latency_ms: Math.round(outcome.latencyMs),
            lease_owner: null,
            lease_until: 0,
            updated_at: now,
          })
          .where('id', '=', delivery.id)
          .execute();
      }
    });
    return dead;
  }

  /** A subscriber's deliveries, newest first. */
  async list(
    subscriber: string,
    state: DeliveryState | undefined,
    window: { offset: number; limit: number },
  ): Promise<{ total: number; deliveries: DeliveryRecord[] }> {
    const filtered = this.db
      .selectFrom('event_deliveries')
      .where('event_deliveries.subscriber', '=', subscriber)
      .$if(state !== undefined, (query) => query.where('event_deliveries.state', '=', state ?? ''));
    const [count, rows] = await Promise.all([
      filtered.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow(),
      filtered
        .innerJoin('event_outbox', 'event_outbox.id', 'event_deliveries.event_id')
        .select([
          'event_deliveries.id',
          'event_deliveries.event_id',
          'event_outbox.action',
          'event_deliveries.state',
          'event_deliveries.attempts',
          'event_deliveries.last_status',
          'event_deliveries.last_error',
          'event_deliveries.last_latency_ms',
          'event_deliveries.created_at',
          'event_deliveries.updated_at',
          'event_deliveries.next_attempt_at',
          'event_deliveries.delivered_at',
        ])
        .orderBy('event_deliveries.id', 'desc')
        .offset(window.offset)
        .limit(window.limit)
        .execute(),
    ]);
    return {
      total: Number(count.count),
      deliveries: rows.map((row) => ({
        id: Number(row.id),
        eventId: row.event_id,
        action: row.action,
        state: row.state as DeliveryState,
        attempts: row.attempts,
        lastStatus: row.last_status,
        lastError: row.last_error,
        lastLatencyMs: row.last_latency_ms,
        createdAt: Number(row.created_at),
        updatedAt: Number(row.updated_at),
        nextAttemptAt: Number(row.next_attempt_at),
        deliveredAt: row.delivered_at === null ? null : Number(row.delivered_at),
      })),
    };
  }

  /** Counts of a subscriber's deliveries by state. */
  async countByState(subscriber: string): Promise<Record<DeliveryState, number>> {
    const rows = await this.db
      .selectFrom('event_deliveries')
      .select(['state', (eb) => eb.fn.countAll<number>().as('count')])
      .where('subscriber', '=', subscriber)
      .groupBy('state')
      .execute();
    const counts: Record<DeliveryState, number> = { pending: 0, delivered: 0, dead: 0 };
    for (const row of rows) counts[row.state as DeliveryState] = Number(row.count);
    return counts;
  }

  /** Sends one delivery again from its first attempt, whatever became of it; false when it is unknown. */
  async redeliver(subscriber: string, id: number, now = Date.now()): Promise<boolean> {
    const result = await this.db
      .updateTable('event_deliveries')
      .set(retried(now))
      .where('subscriber', '=', subscriber)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Sends every dead letter of the subscriber again; returns how many. */
  async redeliverDead(subscriber: string, now = Date.now()): Promise<number> {
    const result = await this.db
      .updateTable('event_deliveries')
      .set(retried(now))
      .where('subscriber', '=', subscriber)
      .where('state', '=', 'dead')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async stats(): Promise<OutboxStats> {
    const rows = await this.db
      .selectFrom('event_deliveries')
      .select(['state', (eb) => eb.fn.countAll<number>().as('count'), (eb) => eb.fn.min('created_at').as('oldest')])
      .where('state', 'in', ['pending', 'dead'])
      .groupBy('state')
      .execute();
    const stats: OutboxStats = { pending: 0, dead: 0, oldestPendingAt: undefined };
    for (const row of rows) {
      if (row.state === 'pending') {
        stats.pending = Number(row.count);
        stats.oldestPendingAt = row.oldest === null ? undefined : Number(row.oldest);
      } else if (row.state === 'dead') {
        stats.dead = Number(row.count);
      }
    }
    return stats;
  }

  /**
   * Removes deliveries finished (delivered or dead) before `before`, pending ones of endpoints no
   * longer configured, then events left without deliveries. Returns the numbers removed.
   */
  async purge(before: number, endpointKeys: readonly string[]): Promise<{ deliveries: number; events: number }> {
    let deliveries = 0;
    deliveries += await this.deleteInChunks((db) =>
      db
        .selectFrom('event_deliveries')
        .select('id')
        .where('state', 'in', ['delivered', 'dead'])
        .where('created_at', '<', before),
    );
    deliveries += await this.deleteInChunks((db) =>
      db
        .selectFrom('event_deliveries')
        .select('id')
        .where('state', '=', 'pending')
        .where('webhook_id', 'is', null)
        .where('created_at', '<', before)
        .$if(endpointKeys.length > 0, (query) => query.where('subscriber', 'not in', [...endpointKeys])),
    );
    let events = 0;
    for (;;) {
      const result = await this.db
        .deleteFrom('event_outbox')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('event_outbox')
            .select('event_outbox.id')
            .where('event_outbox.occurred_at', '<', before)
            .where(({ not, exists, selectFrom }) =>
              not(
                exists(
                  selectFrom('event_deliveries')
                    .select('event_deliveries.id')
                    .whereRef('event_deliveries.event_id', '=', 'event_outbox.id'),
                ),
              ),
            )
            .limit(purgeChunk),
        )
        .executeTakeFirst();
      const removed = Number(result.numDeletedRows);
      events += removed;
      if (removed < purgeChunk) break;
    }
    return { deliveries, events };
  }

  private async deleteInChunks(
    select: (db: Kysely<Database>) => SelectQueryBuilder<Database, 'event_deliveries', { id: number }>,
  ): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await this.db
        .deleteFrom('event_deliveries')
        .where('id', 'in', select(this.db).limit(purgeChunk))
        .executeTakeFirst();
      const removed = Number(result.numDeletedRows);
      total += removed;
      if (removed < purgeChunk) return total;
    }
  }
}

function retried(now: number) {
  return {
    state: 'pending',
    attempts: 0,
    next_attempt_at: now,
    lease_owner: null,
    lease_until: 0,
    last_error: null,
    updated_at: now,
  } as const;
}
