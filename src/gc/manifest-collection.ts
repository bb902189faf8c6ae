import type { Transaction } from 'kysely';
import type { MetadataChange } from '../metadata/metadata-changes.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { isPostgres } from '../metadata/migrations/column-types.ts';
import type { Database } from '../metadata/schema.ts';
import { collectionLeaseMs } from './blob-collection.ts';

/**
 * Untagged manifests (gc.deleteuntagged, `wharf gc --delete-untagged`). A manifest is kept while a
 * tag names it, while an index of its repository lists it, or while it is a referrer (signature,
 * SBOM) of a subject that is still there. Manifests hold no bytes of their own, so one transaction
 * locks, re-checks and deletes; a push that tags the manifest or lists it in an index holds a lock
 * on its row (foreign key, reference-guards.ts) that the collector skips.
 */

export interface ManifestDeletion {
  deleted: number;
  /** Ids of the manifests found still kept. */
  live: number[];
}

/**
 * Deletes those of `ids` that nothing keeps, reporting each as `manifest.deleted` (whose listener
 * queues reviews of its blobs, of an index's children and of its referrers). Manifests another
 * transaction holds are left for later.
 */
export async function deleteUnkeptManifests(
  trx: Transaction<Database>,
  report: (change: MetadataChange) => Promise<void>,
  ids: readonly number[],
): Promise<ManifestDeletion> {
  if (ids.length === 0) return { deleted: 0, live: [] };
  let query = trx
    .selectFrom('manifests')
    .select(['id', 'repository_id', 'digest', 'media_type', 'size', 'subject_digest'])
    .where('id', 'in', [...new Set(ids)])
    .orderBy('id');
  if (isPostgres<Database>(trx)) query = query.forUpdate().skipLocked();
  const rows = await query.execute();
  if (rows.length === 0) return { deleted: 0, live: [] };
  const kept = await keptManifests(trx, rows);
  const garbage = rows.filter((row) => !kept.has(row.id));
  if (garbage.length === 0) return { deleted: 0, live: [...kept] };

  const garbageIds = garbage.map((row) => row.id);
  const [repositories, blobs, children] = await Promise.all([
    trx
      .selectFrom('repositories')
      .select(['id', 'name'])
      .where('id', 'in', [...new Set(garbage.map((row) => row.repository_id))])
      .execute(),
    trx.selectFrom('manifest_blobs').select(['manifest_id', 'digest']).where('manifest_id', 'in', garbageIds).execute(),
    trx
      .selectFrom('manifest_references')
      .select(['parent_id', 'child_digest'])
      .where('parent_id', 'in', garbageIds)
      .execute(),
  ]);
  const repositoryName = new Map(repositories.map((row) => [row.id, row.name]));
  await trx.deleteFrom('manifests').where('id', 'in', garbageIds).execute();
  for (const row of garbage) {
    await report({
      type: 'manifest.deleted',
      repository: repositoryName.get(row.repository_id) ?? '',
      digest: row.digest,
      mediaType: row.media_type,
      size: Number(row.size),
      subjectDigest: row.subject_digest ?? undefined,
      tags: [],
      blobDigests: blobs.filter((blob) => blob.manifest_id === row.id).map((blob) => blob.digest),
      childDigests: children.filter((child) => child.parent_id === row.id).map((child) => child.child_digest),
    });
  }
  return { deleted: garbage.length, live: [...kept] };
}

interface ManifestRowKey {
  id: number;
  repository_id: number;
  digest: string;
  subject_digest: string | null;
}

/** The ids among `rows` that a tag, an index of their repository or a present subject keeps. */
async function keptManifests(trx: Transaction<Database>, rows: readonly ManifestRowKey[]): Promise<Set<number>> {
  const ids = rows.map((row) => row.id);
  const digests = [...new Set(rows.map((row) => row.digest))];
  const subjects = [...new Set(rows.flatMap((row) => (row.subject_digest === null ? [] : [row.subject_digest])))];
  const [tagged, parents, presentSubjects] = await Promise.all([
    trx.selectFrom('tags').select('manifest_id').distinct().where('manifest_id', 'in', ids).execute(),
    trx
      .selectFrom('manifest_references')
      .innerJoin('manifests as parent', 'parent.id', 'manifest_references.parent_id')
      .select(['parent.repository_id', 'manifest_references.child_digest'])
      .where('manifest_references.child_digest', 'in', digests)
      .execute(),
    subjects.length === 0
      ? Promise.resolve([])
      : trx.selectFrom('manifests').select(['repository_id', 'digest']).where('digest', 'in', subjects).execute(),
  ]);
  const taggedIds = new Set(tagged.map((row) => row.manifest_id));
  const listed = new Set(parents.map((row) => `${row.repository_id}@${row.child_digest}`));
  const present = new Set(presentSubjects.map((row) => `${row.repository_id}@${row.digest}`));
  const kept = new Set<number>();
  for (const row of rows) {
    if (
      taggedIds.has(row.id) ||
      listed.has(`${row.repository_id}@${row.digest}`) ||
      (row.subject_digest !== null && present.has(`${row.repository_id}@${row.subject_digest}`))
    ) {
      kept.add(row.id);
    }
  }
  return kept;
}

export interface DueManifests {
  reviewed: number;
  deleted: number;
}

/**
 * Takes up to `limit` due manifest reviews and answers them: the manifests nothing keeps are deleted
 * when `deleteUntagged` is on; otherwise the reviews are only dropped (queued before it was turned off).
 *
 * One transaction claims the reviews (leased, like blob reviews, so other workers pass them by);
 * then each manifest is judged and deleted in a transaction of its own. A deletion takes the review
 * rows of its blobs and then its project's usage row (quota listener), in that order, as a user's
 * deletion does; two manifests in one transaction would take a second set of review rows while
 * holding the usage row, and deadlock against a user deleting in the same project.
 */
export async function collectDueManifests(
  metadata: MetadataStore,
  now: number,
  limit: number,
  deleteUntagged: boolean,
): Promise<DueManifests> {
  const due = await metadata.writeWithChanges(async (trx) => {
    let dueQuery = trx
      .selectFrom('gc_manifest_reviews')
      .select('manifest_id')
      .where('review_after', '<=', now)
      .orderBy('review_after')
      .limit(limit);
    if (isPostgres<Database>(trx)) dueQuery = dueQuery.forUpdate().skipLocked();
    const ids = (await dueQuery.execute()).map((row) => row.manifest_id);
    if (ids.length === 0) return ids;
    if (deleteUntagged) {
      await trx
        .updateTable('gc_manifest_reviews')
        .set({ review_after: now + collectionLeaseMs })
        .where('manifest_id', 'in', ids)
        .execute();
    } else {
      await trx.deleteFrom('gc_manifest_reviews').where('manifest_id', 'in', ids).execute();
    }
    return ids;
  });
  if (!deleteUntagged) return { reviewed: due.length, deleted: 0 };
  let reviewed = 0;
  let deleted = 0;
  for (const id of due) {
    const outcome = await metadata.writeWithChanges(async (trx, report) => {
      const result = await deleteUnkeptManifests(trx, report, [id]);
      // A deleted manifest took its review with it (foreign key); a kept one's review is answered.
      if (result.live.length > 0) {
        await trx.deleteFrom('gc_manifest_reviews').where('manifest_id', 'in', result.live).execute();
      }
      return result;
    });
    reviewed += outcome.deleted + outcome.live.length;
    deleted += outcome.deleted;
  }
  return { reviewed, deleted };
}
