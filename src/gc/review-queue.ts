import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../metadata/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

/** Rows per statement: four values each, far inside both dialects' limits on bound parameters. */
const rowsPerStatement = 500;

/**
 * Queues a review of each blob, due at `reviewAfter`. A blob already queued keeps one row: the later
 * review time wins, with the event that asked for it, so a layer pushed a million times is one row.
 * Digests are sorted so concurrent writers take the rows' locks in the same order.
 */
export async function queueBlobReviews(
  trx: Executor,
  digests: Iterable<string>,
  event: string,
  reviewAfter: number,
  now: number = Date.now(),
): Promise<void> {
  const sorted = [...new Set(digests)].sort();
  for (let start = 0; start < sorted.length; start += rowsPerStatement) {
    const rows = sorted
      .slice(start, start + rowsPerStatement)
      .map((digest) => ({ digest, review_after: reviewAfter, event, queued_at: now }));
    await trx
      .insertInto('gc_blob_reviews')
      .values(rows)
      .onConflict((conflict) => conflict.column('digest').doUpdateSet(laterReviewWins('gc_blob_reviews')))
      .execute();
  }
}

/** Queues a review of each manifest (by id), as queueBlobReviews does for blobs. */
export async function queueManifestReviews(
  trx: Executor,
  manifestIds: Iterable<number>,
  event: string,
  reviewAfter: number,
  now: number = Date.now(),
): Promise<void> {
  const sorted = [...new Set(manifestIds)].sort((a, b) => a - b);
  for (let start = 0; start < sorted.length; start += rowsPerStatement) {
    const rows = sorted
      .slice(start, start + rowsPerStatement)
      .map((manifest_id) => ({ manifest_id, review_after: reviewAfter, event, queued_at: now }));
    await trx
      .insertInto('gc_manifest_reviews')
      .values(rows)
      .onConflict((conflict) => conflict.column('manifest_id').doUpdateSet(laterReviewWins('gc_manifest_reviews')))
      .execute();
  }
}

/** The upsert's update: each column from the new row when its review is at least as late, else kept. */
function laterReviewWins(table: 'gc_blob_reviews' | 'gc_manifest_reviews') {
  const pick = (column: 'review_after' | 'event' | 'queued_at') =>
    sql<never>`case when excluded.review_after >= ${sql.ref(`${table}.review_after`)} then ${sql.ref(`excluded.${column}`)} else ${sql.ref(`${table}.${column}`)} end`;
  return { review_after: pick('review_after'), event: pick('event'), queued_at: pick('queued_at') };
}

export interface QueueStats {
  /** Reviews queued, due or not. */
  depth: number;
  due: number;
  /** Seconds since the oldest due review became due; 0 when none is due. */
  oldestDueAgeSeconds: number;
}

export async function reviewQueueStats(
  db: Executor,
  queue: 'gc_blob_reviews' | 'gc_manifest_reviews',
  now: number = Date.now(),
): Promise<QueueStats> {
  const row = await db
    .selectFrom(queue)
    .select([
      sql<string | number>`count(*)`.as('depth'),
      sql<string | number | null>`sum(case when review_after <= ${now} then 1 else 0 end)`.as('due'),
      sql<string | number | null>`min(review_after)`.as('oldest'),
    ])
    .executeTakeFirstOrThrow();
  const oldest = row.oldest === null ? undefined : Number(row.oldest);
  return {
    depth: Number(row.depth),
    due: Number(row.due ?? 0),
    oldestDueAgeSeconds: oldest !== undefined && oldest <= now ? (now - oldest) / 1000 : 0,
  };
}
