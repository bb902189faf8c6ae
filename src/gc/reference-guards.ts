import type { Transaction } from 'kysely';
import type { BlobCommitted, BlobMounted, ManifestStored } from '../metadata/metadata-changes.ts';
import { isPostgres } from '../metadata/migrations/column-types.ts';
import type { Database } from '../metadata/schema.ts';
import type { Digest } from '../oci/digest.ts';
import { RegistryError } from '../oci/errors.ts';
import type { StorageDriver } from '../storage/driver.ts';

/**
 * The writer's half of the collection protocol (docs/garbage-collection.md): inside the write's
 * transaction, a write that makes a blob or a manifest referenced holds a share lock on its row
 * until it commits, and refuses a blob the collector has marked for deletion. The collector takes
 * its rows FOR UPDATE before it re-checks references, so either it sees this write's references,
 * or this write sees its mark; never neither.
 */

/**
 * An upload or a mount of `change.digest`: refused while the blob is being deleted. A blob row this
 * write created is only acknowledged if its bytes are in storage now, with the row locked: the
 * upload moved its bytes into place before this transaction, and a collection that ended in
 * between may have deleted them (or the bytes were another upload's, which the storage kept in
 * place of this one's).
 */
export async function guardBlobWrite(
  trx: Transaction<Database>,
  storage: StorageDriver,
  change: BlobCommitted | BlobMounted,
): Promise<void> {
  let query = trx.selectFrom('blobs').select('deleting_since').where('digest', '=', change.digest);
  if (isPostgres<Database>(trx)) query = query.forShare();
  const row = await query.executeTakeFirst();
  if (row === undefined || row.deleting_since !== null) throw blobBeingCollected(change.digest, change.type);
  if (change.type === 'blob.committed' && change.newInRegistry) {
    if ((await storage.statBlob(change.digest as Digest)) === undefined) {
      throw blobBeingCollected(change.digest, change.type);
    }
  }
}

/**
 * A manifest PUT: every blob it references must be live, and every child manifest of an index must
 * still be there, locked until the manifest commits so that no collector deletes it meanwhile.
 */
export async function guardManifestReferences(trx: Transaction<Database>, change: ManifestStored): Promise<void> {
  const postgres = isPostgres<Database>(trx);
  const blobDigests = [...new Set(change.blobDigests)].sort();
  if (blobDigests.length > 0) {
    let query = trx
      .selectFrom('blobs')
      .select(['digest', 'deleting_since'])
      .where('digest', 'in', blobDigests)
      .orderBy('digest');
    if (postgres) query = query.forShare();
    const rows = await query.execute();
    const live = new Set(rows.filter((row) => row.deleting_since === null).map((row) => row.digest));
    const collected = blobDigests.filter((digest) => !live.has(digest));
    if (collected.length > 0) throw referenceCollected('blob', collected);
  }
  const childDigests = [...new Set(change.childDigests)].sort();
  if (childDigests.length > 0) {
    let query = trx
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select('manifests.digest')
      .where('repositories.name', '=', change.repository)
      .where('manifests.digest', 'in', childDigests)
      .orderBy('manifests.digest');
    if (postgres) query = query.forShare('manifests');
    const present = new Set((await query.execute()).map((row) => row.digest));
    const collected = childDigests.filter((digest) => !present.has(digest));
    // A pull-through cache stores an index before its children; those present are locked all the same.
    if (collected.length > 0 && !change.childrenMayBeMissing) throw referenceCollected('manifest', collected);
  }
}

function blobBeingCollected(digest: string, write: 'blob.committed' | 'blob.mounted'): RegistryError {
  const again = write === 'blob.committed' ? 'upload it again' : 'upload it instead';
  return new RegistryError('UNAVAILABLE', `blob ${digest} is being garbage collected; ${again}`, {
    detail: { digest },
    headers: { 'Retry-After': '1' },
  });
}

function referenceCollected(kind: 'blob' | 'manifest', digests: string[]): RegistryError {
  return new RegistryError(
    'MANIFEST_BLOB_UNKNOWN',
    `manifest references ${kind} ${digests[0]}, which garbage collection is deleting; push it again`,
    { detail: { [kind === 'blob' ? 'blobs' : 'manifests']: digests } },
  );
}
