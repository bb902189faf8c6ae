import { sql } from 'kysely';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { type BlobToDelete, claimBlobs, claimOrphans, collectBlobs } from './blob-collection.ts';
import { deleteUnkeptManifests } from './manifest-collection.ts';
import { findUnreachableManifests } from './manifest-reachability.ts';

export interface OfflineCollectionOptions {
  /** Report what would go; change nothing. */
  dryRun: boolean;
  /** Also delete manifests that no tag reaches (directly, through an index, or as a referrer). */
  deleteUntagged: boolean;
  /** Blobs uploaded or mounted this recently are kept: their manifest may still be on its way. */
  uploadGraceMs: number;
  /** Files in storage that no row describes are removed once they are this old. */
  orphanAgeMs: number;
}

export type OfflinePhase = 'manifests' | 'blobs' | 'orphans';

/** Where a long run reports its progress: a bar on a terminal, lines otherwise. */
export interface ProgressSink {
  start(phase: OfflinePhase, total: number | undefined): void;
  advance(count: number): void;
  finish(): void;
}

export interface OfflineCollectionReport {
  dryRun: boolean;
  manifests: { deleted: number };
  blobs: { deleted: number; bytes: number; keptRecent: number; failed: number };
  orphans: { deleted: number; bytes: number; tooRecent: number; failed: number };
  /** Due reviews of blobs found referenced, answered while sweeping. */
  reviewsAnswered: number;
}

/** Rows read, and blobs claimed, per transaction. */
const pageSize = 500;

/**
 * `wharf gc`: mark from the database, sweep storage. Safe beside serving registries: every deletion
 * goes through the same claim (lock, re-check, mark), delete bytes, forget steps as the online
 * collector (blob-collection.ts), so a push that references a blob meanwhile either keeps it or is
 * refused; and blobs uploaded within `uploadGraceMs` are kept, so a push in progress is not refused
 * for being slow.
 */
export async function collectOffline(
  metadata: MetadataStore,
  storage: StorageDriver,
  options: OfflineCollectionOptions,
  progress: ProgressSink,
): Promise<OfflineCollectionReport> {
  const report: OfflineCollectionReport = {
    dryRun: options.dryRun,
    manifests: { deleted: 0 },
    blobs: { deleted: 0, bytes: 0, keptRecent: 0, failed: 0 },
    orphans: { deleted: 0, bytes: 0, tooRecent: 0, failed: 0 },
    reviewsAnswered: 0,
  };
  if (options.deleteUntagged) report.manifests.deleted = await sweepManifests(metadata, options, progress);
  await sweepBlobs(metadata, storage, options, progress, report);
  await sweepOrphans(metadata, storage, options, progress, report);
  if (!options.dryRun) report.reviewsAnswered = await answerLiveReviews(metadata);
  return report;
}

/**
 * Deletes the unreachable manifests, parents first: a child is only free once the index listing it
 * is gone, a referrer once its subject is, so each pass deletes what the previous one freed.
 */
async function sweepManifests(
  metadata: MetadataStore,
  options: OfflineCollectionOptions,
  progress: ProgressSink,
): Promise<number> {
  let candidates = await findUnreachableManifests(metadata.db);
  progress.start('manifests', candidates.length);
  if (options.dryRun) {
    progress.advance(candidates.length);
    progress.finish();
    return candidates.length;
  }
  let deleted = 0;
  while (candidates.length > 0) {
    let deletedThisPass = 0;
    // One manifest per transaction, as the online worker does (manifest-collection.ts says why).
    for (const id of candidates) {
      const outcome = await metadata.writeWithChanges((trx, report) => deleteUnkeptManifests(trx, report, [id]));
      deletedThisPass += outcome.deleted;
      progress.advance(outcome.deleted);
    }
    deleted += deletedThisPass;
    if (deletedThisPass === 0) break;
    const remaining = new Set(await findUnreachableManifests(metadata.db));
    candidates = candidates.filter((id) => remaining.has(id));
  }
  progress.finish();
  return deleted;
}

/** Every blob no manifest references, a page at a time in digest order. */
async function sweepBlobs(
  metadata: MetadataStore,
  storage: StorageDriver,
  options: OfflineCollectionOptions,
  progress: ProgressSink,
  report: OfflineCollectionReport,
): Promise<void> {
  const db = metadata.db;
  const total = await db
    .selectFrom('blobs')
    .select(sql<string | number>`count(*)`.as('count'))
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('manifest_blobs').select('digest').whereRef('manifest_blobs.digest', '=', 'blobs.digest'))),
    )
    .executeTakeFirstOrThrow();
  progress.start('blobs', Number(total.count));
  let after = '';
  for (;;) {
    const page = await db
      .selectFrom('blobs')
      .select(['digest', 'size'])
      .where('digest', '>', after)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(selectFrom('manifest_blobs').select('digest').whereRef('manifest_blobs.digest', '=', 'blobs.digest')),
        ),
      )
      .orderBy('digest')
      .limit(pageSize)
      .execute();
    if (page.length === 0) break;
    after = page.at(-1)!.digest;
    const digests = page.map((row) => row.digest);
    const cutoff = Date.now() - options.uploadGraceMs;
    if (options.dryRun) {
      const recent = await recentlyUploaded(metadata, digests, cutoff);
      for (const row of page) {
        if (recent.has(row.digest)) report.blobs.keptRecent++;
        else {
          report.blobs.deleted++;
          report.blobs.bytes += Number(row.size);
        }
      }
    } else {
      let kept = 0;
      const outcome = await collectBlobs(metadata, storage, (trx) =>
        claimBlobs(trx, digests, Date.now(), async (candidates) => {
          const recent = await recentlyUploaded(metadata, candidates, cutoff, trx);
          kept = recent.size;
          return recent;
        }),
      );
      report.blobs.keptRecent += kept;
      report.blobs.deleted += outcome.deleted.length;
      report.blobs.bytes += sumOf(outcome.deleted);
      report.blobs.failed += outcome.failures.length;
    }
    progress.advance(page.length);
  }
  progress.finish();
}

/**
 * Blobs whose latest upload or mount is more recent than `cutoff`: by when the registry first saw
 * them or a repository linked them, and by a pending upload review (a repeated upload of a blob a
 * repository already holds changes no row but its review).
 */
async function recentlyUploaded(
  metadata: MetadataStore,
  digests: readonly string[],
  cutoff: number,
  executor = metadata.db,
): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const [blobs, links, reviews] = await Promise.all([
    executor
      .selectFrom('blobs')
      .select('digest')
      .where('digest', 'in', digests)
      .where('created_at', '>', cutoff)
      .execute(),
    executor
      .selectFrom('repository_blobs')
      .select('digest')
      .where('digest', 'in', digests)
      .where('created_at', '>', cutoff)
      .execute(),
    executor
      .selectFrom('gc_blob_reviews')
      .select('digest')
      .where('digest', 'in', digests)
      .where('event', 'in', ['blob.committed', 'blob.mounted'])
      .where('queued_at', '>', cutoff)
      .execute(),
  ]);
  return new Set([...blobs, ...links, ...reviews].map((row) => row.digest));
}

/** Blob files that no row describes: orphans of a crash between bytes and row, or of a restored backup. */
async function sweepOrphans(
  metadata: MetadataStore,
  storage: StorageDriver,
  options: OfflineCollectionOptions,
  progress: ProgressSink,
  report: OfflineCollectionReport,
): Promise<void> {
  progress.start('orphans', undefined);
  let batch: Digest[] = [];
  const flush = async () => {
    const listed = batch;
    batch = [];
    const known = new Set(
      (await metadata.db.selectFrom('blobs').select('digest').where('digest', 'in', listed).execute()).map(
        (row) => row.digest,
      ),
    );
    const cutoff = Date.now() - options.orphanAgeMs;
    const orphans: BlobToDelete[] = [];
    for (const digest of listed.filter((candidate) => !known.has(candidate))) {
      const stat = await storage.statBlob(digest);
      if (stat === undefined) continue;
      if (stat.modifiedAt.getTime() > cutoff) report.orphans.tooRecent++;
      else orphans.push({ digest, size: stat.size });
    }
    if (options.dryRun) {
      report.orphans.deleted += orphans.length;
      report.orphans.bytes += sumOf(orphans);
    } else if (orphans.length > 0) {
      const outcome = await collectBlobs(metadata, storage, async (trx) => ({
        garbage: await claimOrphans(trx, orphans, Date.now()),
        live: [],
      }));
      report.orphans.deleted += outcome.deleted.length;
      report.orphans.bytes += sumOf(outcome.deleted);
      report.orphans.failed += outcome.failures.length;
    }
    progress.advance(listed.length);
  };
  for await (const digest of storage.listBlobs()) {
    if (!isDigest(digest)) continue;
    batch.push(digest);
    if (batch.length >= pageSize) await flush();
  }
  if (batch.length > 0) await flush();
  progress.finish();
}

/** Drops due reviews of blobs a manifest references: nothing for a worker to do (the worker may be off). */
async function answerLiveReviews(metadata: MetadataStore): Promise<number> {
  const result = await metadata.db
    .deleteFrom('gc_blob_reviews')
    .where('review_after', '<=', Date.now())
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('manifest_blobs').select('digest').whereRef('manifest_blobs.digest', '=', 'gc_blob_reviews.digest'),
      ),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

function sumOf(blobs: readonly BlobToDelete[]): number {
  return blobs.reduce((sum, blob) => sum + blob.size, 0);
}
