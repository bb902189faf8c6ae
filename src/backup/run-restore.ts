import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Config } from '../config/index.ts';
import { copyDatabase } from '../metadata/copy-database.ts';
import { migrateToLatest, pendingMigrations } from '../metadata/migrate.ts';
import { openDatabase } from '../metadata/open-database.ts';
import { connectSqlite } from '../metadata/open-sqlite.ts';
import type { Database } from '../metadata/schema.ts';
import type { Digest } from '../oci/digest.ts';
import { forEachConcurrent } from '../replication/for-each-concurrent.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { BackupError, snapshotPath } from './backup-layout.ts';
import { type BackupManifest, readManifest } from './backup-manifest.ts';
import { restoreBlob } from './blob-restore-copy.ts';
import { hashFile } from './hash-file.ts';
import { SnapshotContents } from './snapshot-contents.ts';
import { databaseContents, storageContents } from './target-emptiness.ts';

export interface RestoreProgress {
  start(blobs: number, bytes: number): void;
  advance(bytes: number): void;
  stop(): void;
}

export interface RestoreReport {
  manifest: BackupManifest;
  blobs: number;
  bytes: number;
  rows: number;
  elapsedMs: number;
}

/**
 * `wharf restore`: into an empty storage and an empty database only. Blobs first, each verified as
 * it is written (a corrupted one stops the restore, and the blobs written so far are removed so the
 * target stays empty); then the metadata through the same copy as `wharf db copy`, in one
 * transaction; then a check that every blob a manifest references is in storage.
 */
export async function runRestore(
  config: Config,
  storage: StorageDriver,
  dir: string,
  progress: RestoreProgress,
): Promise<RestoreReport> {
  const started = Date.now();
  const manifest = await readManifest(dir);
  const snapshot = await hashFile(snapshotPath(dir));
  if (snapshot.digest !== manifest.snapshot.digest) {
    throw new BackupError(
      `${dir}/metadata.db does not match backup.json (digest ${snapshot.digest}): the backup is damaged`,
    );
  }
  const database = await openDatabase(config.database, { migrations: 'none' });
  try {
    await migrateToLatest(database);
    const notEmpty = [await storageContents(storage), await databaseContents(database)].filter(
      (reason) => reason !== undefined,
    );
    if (notEmpty.length > 0) throw new BackupError(`the restore target is not empty: ${notEmpty.join('; ')}`);

    const contents = new SnapshotContents(snapshotPath(dir), { readonly: true });
    let blobs: { digest: Digest; size: number }[];
    try {
      blobs = contents.blobs();
    } finally {
      contents.close();
    }
    const bytes = blobs.reduce((sum, blob) => sum + blob.size, 0);
    const written = await restoreBlobs(storage, dir, blobs, bytes, progress);

    // The copy is one transaction: if it fails nothing of it stays, and neither do the blobs.
    const rows = await restoreMetadata(dir, database).catch(async (error: unknown) => {
      await deleteBlobs(storage, written);
      throw error;
    });
    const missing = await missingReferencedBlobs(storage, database);
    if (missing.length > 0) {
      throw new BackupError(`restored, but storage lacks ${missing.length} referenced blob(s), e.g. ${missing[0]}`);
    }
    return { manifest, blobs: blobs.length, bytes, rows, elapsedMs: Date.now() - started };
  } finally {
    await database.destroy();
  }
}

async function restoreBlobs(
  storage: StorageDriver,
  dir: string,
  blobs: { digest: Digest; size: number }[],
  bytes: number,
  progress: RestoreProgress,
): Promise<Digest[]> {
  const written: Digest[] = [];
  progress.start(blobs.length, bytes);
  try {
    await forEachConcurrent(blobs, 4, async (blob) => {
      await restoreBlob(storage, dir, blob, (count) => progress.advance(count));
      written.push(blob.digest);
    });
  } catch (error) {
    // The target was empty: leave it so, and a corrected backup can be restored into it.
    await deleteBlobs(storage, written);
    throw error;
  } finally {
    progress.stop();
  }
  return written;
}

async function deleteBlobs(storage: StorageDriver, digests: readonly Digest[]): Promise<void> {
  for (const digest of digests) await storage.deleteBlob(digest).catch(() => false);
}

/** Copies the snapshot's rows; a snapshot of an older schema is migrated in a scratch copy first. */
async function restoreMetadata(dir: string, target: Kysely<Database>): Promise<number> {
  const scratch = await mkdtemp(join(tmpdir(), 'wharf-restore-'));
  try {
    let source = await connectSqlite(snapshotPath(dir), { readonly: true });
    if ((await pendingMigrations(source)).length > 0) {
      await source.destroy();
      const copy = join(scratch, 'metadata.db');
      await copyFile(snapshotPath(dir), copy);
      source = await connectSqlite(copy);
      await migrateToLatest(source);
    }
    try {
      const counts = await copyDatabase(source, target);
      return [...counts.values()].reduce((sum, rows) => sum + rows, 0);
    } finally {
      await source.destroy();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Reads the references back from the restored database: what the registry will serve from. */
async function missingReferencedBlobs(storage: StorageDriver, database: Kysely<Database>): Promise<string[]> {
  const rows = await database.selectFrom('manifest_blobs').select('digest').distinct().execute();
  const missing: string[] = [];
  for (const { digest } of rows) if ((await storage.statBlob(digest as Digest)) === undefined) missing.push(digest);
  return missing;
}
