import SQLite from 'better-sqlite3';
import type { Digest } from '../oci/digest.ts';

export interface SnapshotBlob {
  digest: Digest;
  size: number;
  /** A manifest of the snapshot lists it: a backup without its bytes is unusable. */
  referenced: boolean;
}

export interface SnapshotCounts {
  repositories: number;
  manifests: number;
  tags: number;
  users: number;
  projects: number;
}

/** A metadata snapshot file, read (and, while a backup finishes it, pruned) directly. */
export class SnapshotContents {
  private readonly database: SQLite.Database;

  constructor(file: string, options: { readonly: boolean }) {
    this.database = new SQLite(file, { readonly: options.readonly, fileMustExist: true });
    // One self-contained file: no -wal beside it to lose when the snapshot is moved or copied.
    if (!options.readonly) this.database.pragma('journal_mode = DELETE');
  }

  blobs(): SnapshotBlob[] {
    const rows = this.database
      .prepare(
        `select digest, size, exists (select 1 from manifest_blobs where manifest_blobs.digest = blobs.digest) as referenced
         from blobs order by digest`,
      )
      .all() as { digest: string; size: number | bigint; referenced: number }[];
    return rows.map((row) => ({
      digest: row.digest as Digest,
      size: Number(row.size),
      referenced: row.referenced === 1,
    }));
  }

  /** Digests manifests reference, whether or not a blob row describes them. */
  referencedDigests(): string[] {
    return (
      this.database.prepare('select distinct digest from manifest_blobs order by digest').all() as { digest: string }[]
    ).map((row) => row.digest);
  }

  counts(): SnapshotCounts {
    const count = (table: string) =>
      Number((this.database.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n);
    return {
      repositories: count('repositories'),
      manifests: count('manifests'),
      tags: count('tags'),
      users: count('users'),
      projects: count('projects'),
    };
  }

  /**
   * Makes the snapshot describe only what the backup holds: upload sessions (their staged bytes are
   * not backed up), and unreferenced blobs whose bytes were gone when they were copied (collected
   * after the snapshot, or an upload that never got a manifest), with their links and reviews.
   */
  prune(missingUnreferenced: readonly string[]): void {
    const removeBlob = [
      this.database.prepare('delete from repository_blobs where digest = ?'),
      this.database.prepare('delete from gc_blob_reviews where digest = ?'),
      this.database.prepare('delete from blobs where digest = ?'),
    ];
    this.database.transaction(() => {
      this.database.prepare('delete from uploads').run();
      for (const digest of missingUnreferenced) for (const statement of removeBlob) statement.run(digest);
    })();
  }

  close(): void {
    if (this.database.open) this.database.close();
  }
}
