import type { Generated, Insertable, Selectable } from 'kysely';

/** The metadata tables, as Kysely sees them. Timestamps are epoch milliseconds. */
export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_blobs: ManifestBlobsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
}

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

/** Blobs whose bytes are committed in storage, once per digest. */
export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
}

/** Which repositories may serve which blobs (a push or a mount links them). */
export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: number;
}

export interface ManifestsTable {
  id: Generated<number>;
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: number;
  /** The bytes exactly as pushed. */
  payload: Uint8Array;
  subject_digest: string | null;
  /** JSON of the manifest's own annotations, for the referrers API. */
  annotations: string | null;
  created_at: number;
}

export interface ManifestBlobsTable {
  manifest_id: number;
  digest: string;
}

/** An index's children, by digest: a child may be deleted while an index still names it. */
export interface ManifestReferencesTable {
  parent_id: number;
  child_digest: string;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_id: number;
  updated_at: number;
}

export interface UploadsTable {
  id: string;
  repository: string;
  started_at: number;
}

export type RepositoryRow = Selectable<RepositoriesTable>;
export type ManifestRow = Selectable<ManifestsTable>;
export type NewManifest = Insertable<ManifestsTable>;
