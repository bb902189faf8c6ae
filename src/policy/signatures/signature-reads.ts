import type { ManifestRecord, ManifestWithPayload, MetadataStore } from '../../metadata/metadata-store.ts';
import { type Digest, isDigest } from '../../oci/digest.ts';
import { type StorageDriver, StorageNotFoundError } from '../../storage/driver.ts';

/** A signature blob larger than this is no signature cosign or notation writes; it is not read. */
export const maxSignatureBlobBytes = 256 * 1024;
/** Referrers of one image looked at; more is not a signature setup but an attack on the gate. */
const referrersLimit = 200;
/** Indexes naming one child looked at for a signature covering it. */
const parentsLimit = 20;

/** What the signature gate reads: manifests, referrers, the indexes naming a manifest, small blobs. */
export interface SignatureReads {
  manifestByDigest(repository: string, digest: string): Promise<ManifestWithPayload | undefined>;
  manifestByTag(repository: string, tag: string): Promise<ManifestWithPayload | undefined>;
  referrers(repository: string, subject: string): Promise<ManifestRecord[]>;
  /** Digests of the indexes in the repository that list `digest` as a child. */
  parentIndexes(repository: string, digest: string): Promise<string[]>;
  /** A blob's bytes, or undefined when it is missing or larger than maxSignatureBlobBytes; throws when storage fails. */
  smallBlob(digest: string, size: number): Promise<Buffer | undefined>;
}

export function signatureReads(metadata: MetadataStore, storage: StorageDriver): SignatureReads {
  return {
    manifestByDigest: (repository, digest) => metadata.loadManifestByDigest(repository, digest),
    manifestByTag: (repository, tag) => metadata.loadManifestByTag(repository, tag),
    referrers: (repository, subject) =>
      metadata.listReferrers(repository, subject, undefined, { limit: referrersLimit, after: undefined }),
    async parentIndexes(repository, digest) {
      const rows = await metadata.db
        .selectFrom('manifest_references')
        .innerJoin('manifests', 'manifests.id', 'manifest_references.parent_id')
        .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
        .select('manifests.digest')
        .where('repositories.name', '=', repository)
        .where('manifest_references.child_digest', '=', digest)
        .limit(parentsLimit)
        .execute();
      return rows.map((row) => row.digest);
    },
    async smallBlob(digest, size) {
      if (size > maxSignatureBlobBytes || !isDigest(digest)) return undefined;
      try {
        const chunks: Buffer[] = [];
        let total = 0;
        for await (const chunk of await storage.readBlob(digest as Digest)) {
          total += (chunk as Buffer).length;
          if (total > maxSignatureBlobBytes) return undefined;
          chunks.push(chunk as Buffer);
        }
        return Buffer.concat(chunks);
      } catch (error) {
        // A signature whose blob is gone verifies nothing; a storage failure is no verdict (it is not remembered).
        if (error instanceof StorageNotFoundError) return undefined;
        throw error;
      }
    },
  };
}
