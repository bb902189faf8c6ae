import type { Transaction } from 'kysely';
import type { ChangeListener } from '../metadata/metadata-changes.ts';
import type { Database } from '../metadata/schema.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { guardBlobWrite, guardManifestReferences } from './reference-guards.ts';
import { queueBlobReviews, queueManifestReviews } from './review-queue.ts';
import type { ReviewSettings } from './review-settings.ts';

/**
 * Garbage collection's part of every metadata write, inside its transaction: refuse a reference to
 * what the collector is deleting (reference-guards.ts), and queue a review of whatever the write may
 * have left unreferenced. Registered on every instance, whether or not its worker runs.
 */
export function gcChangeListener(settings: ReviewSettings, storage: StorageDriver): ChangeListener {
  return async (trx, change) => {
    const now = Date.now();
    const at = (kind: keyof ReviewSettings['delays']) => now + settings.delays[kind];
    switch (change.type) {
      case 'blob.committed':
      case 'blob.mounted':
        await guardBlobWrite(trx, storage, change);
        // The delay is how long the blob may wait for a manifest that references it.
        await queueBlobReviews(trx, [change.digest], change.type, at('blobupload'), now);
        return;
      case 'blob.unlinked':
        // A collected blob's row is gone with its last link: nothing is left to review.
        if (change.collected) return;
        await queueBlobReviews(trx, [change.digest], change.type, at('blobdelete'), now);
        return;
      case 'manifest.stored':
        await guardManifestReferences(trx, change);
        if (!settings.deleteUntagged) return;
        if (change.tag?.previousDigest !== undefined && change.tag.previousDigest !== change.digest) {
          const ids = await manifestIds(trx, change.repository, [change.tag.previousDigest]);
          await queueManifestReviews(trx, ids, 'tag.moved', at('manifestuntag'), now);
        }
        if (change.tag === undefined && change.newInRepository) {
          const ids = await manifestIds(trx, change.repository, [change.digest]);
          await queueManifestReviews(trx, ids, change.type, at('manifestupload'), now);
        }
        return;
      case 'tag.deleted':
        if (!settings.deleteUntagged) return;
        await queueManifestReviews(
          trx,
          await manifestIds(trx, change.repository, [change.digest]),
          change.type,
          at('manifestuntag'),
          now,
        );
        return;
      case 'manifest.deleted':
        await queueBlobReviews(trx, change.blobDigests, change.type, at('manifestdelete'), now);
        if (!settings.deleteUntagged) return;
        await queueManifestReviews(
          trx,
          [
            ...(await manifestIds(trx, change.repository, change.childDigests)),
            ...(await referrerIds(trx, change.repository, change.digest)),
          ],
          change.type,
          at('manifestdelete'),
          now,
        );
        return;
      case 'repository.deleted':
        await queueBlobReviews(trx, change.blobDigests, change.type, at('repositorydelete'), now);
        return;
      default:
        // A kind of change added later queues nothing until it is handled here.
        return;
    }
  };
}

async function manifestIds(
  trx: Transaction<Database>,
  repository: string,
  digests: readonly string[],
): Promise<number[]> {
  if (digests.length === 0) return [];
  const rows = await trx
    .selectFrom('manifests')
    .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
    .select('manifests.id')
    .where('repositories.name', '=', repository)
    .where('manifests.digest', 'in', [...new Set(digests)])
    .execute();
  return rows.map((row) => row.id);
}

/** Signatures, SBOMs and other referrers of `subject` in the repository. */
async function referrerIds(trx: Transaction<Database>, repository: string, subject: string): Promise<number[]> {
  const rows = await trx
    .selectFrom('manifests')
    .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
    .select('manifests.id')
    .where('repositories.name', '=', repository)
    .where('manifests.subject_digest', '=', subject)
    .execute();
  return rows.map((row) => row.id);
}
