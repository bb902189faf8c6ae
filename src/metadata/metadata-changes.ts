import type { Transaction } from 'kysely';
import type { Database } from './schema.ts';

/**
 * What a committed write changed, described to listeners inside the write's own transaction, so
 * that what they record (GC reviews, quota usage, outbox events) commits or rolls back with it.
 */
export type MetadataChange =
  | BlobCommitted
  | BlobMounted
  | BlobUnlinked
  | ManifestStored
  | TagDeleted
  | ManifestDeleted
  | RepositoryDeleted;

export interface BlobCommitted {
  type: 'blob.committed';
  repository: string;
  digest: string;
  size: number;
  /** The registry did not hold these bytes before. */
  newInRegistry: boolean;
  /** The repository was not linked to the blob before. */
  newInRepository: boolean;
}

export interface BlobMounted {
  type: 'blob.mounted';
  repository: string;
  digest: string;
  size: number;
  newInRepository: boolean;
}

export interface BlobUnlinked {
  type: 'blob.unlinked';
  repository: string;
  digest: string;
  /** Garbage collection deleted the blob itself (no manifest referenced it); its links went with it. */
  collected?: boolean;
}

export interface ManifestStored {
  type: 'manifest.stored';
  repository: string;
  digest: string;
  mediaType: string;
  artifactType: string | undefined;
  size: number;
  subjectDigest: string | undefined;
  blobDigests: readonly string[];
  childDigests: readonly string[];
  /** An index stored by a pull-through cache before its children, which are fetched when pulled. */
  childrenMayBeMissing?: boolean;
  /** The repository did not hold this manifest before. */
  newInRepository: boolean;
  /** The tag written with it, and the digest it named before (undefined for a new tag). */
  tag: { name: string; previousDigest: string | undefined } | undefined;
}

export interface TagDeleted {
  type: 'tag.deleted';
  repository: string;
  tag: string;
  digest: string;
}

export interface ManifestDeleted {
  type: 'manifest.deleted';
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  subjectDigest: string | undefined;
  /** Tags that named it and went with it. */
  tags: readonly string[];
  blobDigests: readonly string[];
  childDigests: readonly string[];
}

export interface RepositoryDeleted {
  type: 'repository.deleted';
  repository: string;
  /** Every manifest and blob the repository held, so reviews can be queued for them. */
  manifestDigests: readonly string[];
  blobDigests: readonly string[];
}

/**
 * Called inside the transaction after the change is written. Throwing aborts the write (a quota or
 * an immutable tag refusing it); the error reaches the caller unchanged.
 */
export type ChangeListener = (trx: Transaction<Database>, change: MetadataChange) => Promise<void>;
