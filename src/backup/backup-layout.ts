import { join } from 'node:path';
import { type Digest, digestAlgorithm, digestHex } from '../oci/digest.ts';

/**
 * What a backup directory holds: `blobs/<algorithm>/<hex>` (content addressed, shared by every run
 * into the directory), `metadata.db` (the metadata snapshot as a SQLite file) and `backup.json`,
 * written last: a directory without it is a backup that did not finish.
 */
export const backupFormatVersion = 1;

export function manifestPath(dir: string): string {
  return join(dir, 'backup.json');
}

export function snapshotPath(dir: string): string {
  return join(dir, 'metadata.db');
}

/** Where a run writes its snapshot until every blob it references is in the directory. */
export function partialSnapshotPath(dir: string): string {
  return join(dir, 'metadata.db.partial');
}

export function blobPath(dir: string, digest: Digest): string {
  return join(dir, 'blobs', digestAlgorithm(digest), digestHex(digest));
}

export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}
