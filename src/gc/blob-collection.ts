import type { Transaction } from 'kysely';
import type { MetadataChange } from '../metadata/metadata-changes.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { isPostgres } from '../metadata/migrations/column-types.ts';
import type { Database } from '../metadata/schema.ts';
import type { Digest } from '../oci/digest.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { queueBlobReviews } from './review-queue.ts';

/**
 * The collector's half of the protocol (docs/garbage-collection.md), in three steps:
 *
 * 1. claim: one transaction locks the blob rows (FOR UPDATE SKIP LOCKED on PostgreSQL), re-checks
 *    that no manifest references them and marks them `deleting_since`. From its commit on, every
 *    write that would reference them refuses (reference-guards.ts).
 * 2. the bytes are deleted from storage.
 * 3. forget: a second transaction removes the rows, the repositories' links and the reviews.
 *
 * A crash after 1 leaves marked rows whose review comes due again when the lease ends; a crash after
 * 2 the same, with the bytes already gone. Bytes are only ever deleted under a committed mark, and a
 * mark is only ever removed together with its row, so a live row always has its bytes.
 */

export interface BlobToDelete {
  digest: Digest;
  size: number;
}

/**
 * How long a claimed blob's review is hidden from other workers while its bytes are deleted. A
 * collector that dies in between leaves the blob marked (refusing uploads of it) this long; one
 * that outlives it only sees another delete the same bytes again, which is harmless.
 */
export const collectionLeaseMs = 60_000;

export interface ClaimOutcome {
  /** Unreferenced, now marked: delete their bytes, then forget them. */
  garbage: BlobToDelete[];
  /** Referenced by a manifest. */
  live: string[];
}

/**
 * Step 1 for `digests`: the unreferenced ones among those this transaction could lock are marked
 * and leased. `keep` may spare some (uploads within a grace period); a blob already marked by an
 * interrupted collection is never spared, its deletion has to finish.
 */
export async function claimBlobs(
  trx: Transaction<Database>,
  digests: readonly string[],
  now: number,
  keep?: (digests: string[]) => Promise<Set<string>>,
): Promise<ClaimOutcome> {
  if (digests.length === 0) return { garbage: [], live: [] };
  let query = trx
    .selectFrom('blobs')
    .select(['digest', 'size', 'deleting_since'])
    .where('digest', 'in', [...new Set(digests)])
    .orderBy('digest');
  if (isPostgres<Database>(trx)) query = query.forUpdate().skipLocked();
  const locked = await query.execute();
  if (locked.length === 0) return { garbage: [], live: [] };
  const referenced = new Set(
    (
      await trx
        .selectFrom('manifest_blobs')
        .select('digest')
        .distinct()
        .where(
          'digest',
          'in',
          locked.map((row) => row.digest),
        )
        .execute()
    ).map((row) => row.digest),
  );
  let garbage = locked.filter((row) => !referenced.has(row.digest));
  if (keep) {
    const spared = await keep(garbage.filter((row) => row.deleting_since === null).map((row) => row.digest));
    garbage = garbage.filter((row) => !spared.has(row.digest));
  }
  const unmarked = garbage.filter((row) => row.deleting_since === null).map((row) => row.digest);
  if (unmarked.length > 0) {
    await trx
      .updateTable('blobs')
      .set({ deleting_since: now })
      .where('digest', 'in', unmarked)
      .where('deleting_since', 'is', null)
      .execute();
  }
  await queueBlobReviews(
    trx,
    garbage.map((row) => row.digest),
    'gc.collecting',
    now + collectionLeaseMs,
    now,
  );
  return {
    garbage: garbage.map((row) => ({ digest: row.digest as Digest, size: Number(row.size) })),
    live: locked.filter((row) => referenced.has(row.digest)).map((row) => row.digest),
  };
}

export interface DueClaim extends ClaimOutcome {
  /** Reviews taken: answered now, or leased while the bytes go. */
  reviewed: number;
}

/**
 * Step 1 for the reviews due at `now`, at most `limit` of them, none that another worker holds.
 * Reviews of live blobs and of blobs that are gone are answered (deleted) here.
 */
export async function claimDueBlobs(trx: Transaction<Database>, now: number, limit: number): Promise<DueClaim> {
  let dueQuery = trx
    .selectFrom('gc_blob_reviews')
    .select('digest')
    .where('review_after', '<=', now)
    .orderBy('review_after')
    .limit(limit);
  if (isPostgres<Database>(trx)) dueQuery = dueQuery.forUpdate().skipLocked();
  const due = (await dueQuery.execute()).map((row) => row.digest);
  if (due.length === 0) return { garbage: [], live: [], reviewed: 0 };
  const present = new Set(
    (await trx.selectFrom('blobs').select('digest').where('digest', 'in', due).execute()).map((row) => row.digest),
  );
  const outcome = await claimBlobs(trx, due, now);
  const answered = [...due.filter((digest) => !present.has(digest)), ...outcome.live];
  if (answered.length > 0) await trx.deleteFrom('gc_blob_reviews').where('digest', 'in', answered).execute();
  return { ...outcome, reviewed: answered.length + outcome.garbage.length };
}

/**
 * Step 1 for blob files that no row describes (orphans of a crash or of a restored backup): each is
 * given a marked row, unless a row appeared meanwhile (an upload committing it right now).
 */
export async function claimOrphans(
  trx: Transaction<Database>,
  orphans: readonly BlobToDelete[],
  now: number,
): Promise<BlobToDelete[]> {
  if (orphans.length === 0) return [];
  const claimed: BlobToDelete[] = [];
  for (const orphan of orphans) {
    const inserted = await trx
      .insertInto('blobs')
      .values({ digest: orphan.digest, size: orphan.size, created_at: now, deleting_since: now })
      .onConflict((conflict) => conflict.column('digest').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) claimed.push(orphan);
  }
  await queueBlobReviews(
    trx,
    claimed.map((orphan) => orphan.digest),
    'gc.collecting',
    now + collectionLeaseMs,
    now,
  );
  return claimed;
}

/** Step 2: deletes the bytes; a blob whose deletion failed stays marked and is retried after its lease. */
export async function deleteBlobBytes(
  storage: StorageDriver,
  blobs: readonly BlobToDelete[],
  concurrency = 8,
): Promise<{ deleted: BlobToDelete[]; failures: { digest: string; error: unknown }[] }> {
  const deleted: BlobToDelete[] = [];
  const failures: { digest: string; error: unknown }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < blobs.length) {
      const blob = blobs[next++]!;
      try {
        await storage.deleteBlob(blob.digest);
        deleted.push(blob);
      } catch (error) {
        failures.push({ digest: blob.digest, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, blobs.length) }, worker));
  return { deleted, failures };
}

/**
 * Step 3: removes the marked rows, their repositories' links (reported as unlinks, so quotas,
 * events and caches follow) and their reviews. Returns the blobs forgotten.
 */
export async function forgetBlobs(
  trx: Transaction<Database>,
  report: (change: MetadataChange) => Promise<void>,
  digests: readonly string[],
): Promise<BlobToDelete[]> {
  if (digests.length === 0) return [];
  let query = trx
    .selectFrom('blobs')
    .select(['digest', 'size'])
    .where('digest', 'in', [...new Set(digests)])
    .where('deleting_since', 'is not', null)
    .orderBy('digest');
  // Waits rather than skips: the only holders are writes about to refuse the marked blob, and a
  // row left marked would refuse uploads of its digest until the lease ends.
  if (isPostgres<Database>(trx)) query = query.forUpdate();
  const rows = await query.execute();
  if (rows.length === 0) return [];
  const marked = rows.map((row) => row.digest);
  const links = await trx
    .selectFrom('repository_blobs')
    .innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
    .select(['repositories.name', 'repository_blobs.digest'])
    .where('repository_blobs.digest', 'in', marked)
    .execute();
  await trx.deleteFrom('repository_blobs').where('digest', 'in', marked).execute();
  for (const link of links) {
    await report({ type: 'blob.unlinked', repository: link.name, digest: link.digest, collected: true });
  }
  await trx.deleteFrom('blobs').where('digest', 'in', marked).where('deleting_since', 'is not', null).execute();
  await trx.deleteFrom('gc_blob_reviews').where('digest', 'in', marked).execute();
  return rows.map((row) => ({ digest: row.digest as Digest, size: Number(row.size) }));
}

export interface BlobCollection {
  reviewed: number;
  deleted: BlobToDelete[];
  failures: { digest: string; error: unknown }[];
}

/** Runs the three steps with `claim` as step 1. */
export async function collectBlobs(
  metadata: MetadataStore,
  storage: StorageDriver,
  claim: (trx: Transaction<Database>) => Promise<ClaimOutcome & { reviewed?: number }>,
): Promise<BlobCollection> {
  const claimed = await metadata.writeWithChanges((trx) => claim(trx));
  const reviewed = claimed.reviewed ?? claimed.garbage.length + claimed.live.length;
  if (claimed.garbage.length === 0) return { reviewed, deleted: [], failures: [] };
  const { deleted, failures } = await deleteBlobBytes(storage, claimed.garbage);
  const forgotten =
    deleted.length === 0
      ? []
      : await metadata.writeWithChanges((trx, report) =>
          forgetBlobs(
            trx,
            report,
            deleted.map((blob) => blob.digest),
          ),
        );
  return { reviewed, deleted: forgotten, failures };
}
