import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { forEachConcurrent } from '../replication/for-each-concurrent.ts';
import type { StorageDriver } from '../storage/driver.ts';
import {
  BackupError,
  backupFormatVersion,
  blobPath,
  manifestPath,
  partialSnapshotPath,
  snapshotPath,
} from './backup-layout.ts';
import { type BackupManifest, writeManifest } from './backup-manifest.ts';
import { copyBlobToBackup } from './blob-backup-copy.ts';
import { hashFile, syncFile } from './hash-file.ts';
import { snapshotMetadata } from './metadata-snapshot.ts';
import { type SnapshotBlob, SnapshotContents } from './snapshot-contents.ts';

export interface BackupProgress {
  /** The snapshot is taken; `bytes` of `blobs` blobs are to be looked at. Copying waits for it. */
  start(blobs: number, bytes: number): void | Promise<void>;
  advance(bytes: number): void;
  stop(): void;
}

export interface BackupOptions {
  dir: string;
  dryRun: boolean;
  progress: BackupProgress;
  /** Blobs copied at once. */
  concurrency?: number;
}

export type BackupReport =
  | { dryRun: false; manifest: BackupManifest; snapshots: number; prunedBlobs: number; elapsedMs: number }
  | {
      dryRun: true;
      blobs: number;
      bytes: number;
      toCopy: number;
      bytesToCopy: number;
      counts: BackupManifest['counts'];
    };

/**
 * A snapshot whose referenced blob is gone by the time it is copied was overtaken by a deletion
 * (the manifest was deleted after the snapshot, then collected): a new snapshot no longer lists it.
 */
const maxSnapshots = 3;

/**
 * `wharf backup`: the metadata snapshot first, then the blobs that snapshot describes, then the
 * manifest. A blob pushed after the snapshot is not in it and not needed; the blobs a previous run
 * left in the directory are kept and not copied again.
 */
export async function runBackup(config: Config, storage: StorageDriver, options: BackupOptions): Promise<BackupReport> {
  const started = Date.now();
  if (options.dryRun) return dryRun(config, options.dir);
  await mkdir(options.dir, { recursive: true });
  // From here until the new manifest is written, the directory is recognisably unfinished.
  await rm(manifestPath(options.dir), { force: true });
  const partial = partialSnapshotPath(options.dir);
  for (let snapshots = 1; ; snapshots++) {
    await removeSnapshotFile(partial);
    const database = await snapshotMetadata(config.database, partial);
    const contents = new SnapshotContents(partial, { readonly: false });
    try {
      const blobs = contents.blobs();
      const copy = await copyBlobs(storage, options, blobs);
      if (copy.missingReferenced.length > 0) {
        if (snapshots < maxSnapshots) continue;
        throw new BackupError(
          `storage has lost ${copy.missingReferenced.length} blob(s) that manifests reference, e.g. ${copy.missingReferenced[0]}: run \`wharf gc --dry-run\` and check the storage`,
        );
      }
      contents.prune(copy.missingUnreferenced);
      const pruned = new Set(copy.missingUnreferenced);
      const kept = blobs.filter((blob) => !pruned.has(blob.digest));
      const counts = contents.counts();
      contents.close();
      await syncFile(partial);
      const snapshot = await hashFile(partial);
      await rename(partial, snapshotPath(options.dir));
      const manifest: BackupManifest = {
        version: backupFormatVersion,
        createdAt: new Date().toISOString(),
        source: { database, storage: storage.name },
        snapshot: { file: 'metadata.db', digest: snapshot.digest, bytes: snapshot.size },
        counts: {
          ...counts,
          blobs: kept.length,
          blobsCopied: copy.copied,
          blobsAlreadyPresent: copy.present,
        },
        bytes: { blobs: kept.reduce((sum, blob) => sum + blob.size, 0), copied: copy.bytesCopied },
      };
      await writeManifest(options.dir, manifest);
      return {
        dryRun: false,
        manifest,
        snapshots,
        prunedBlobs: copy.missingUnreferenced.length,
        elapsedMs: Date.now() - started,
      };
    } finally {
      contents.close();
    }
  }
}

interface BlobsCopy {
  copied: number;
  present: number;
  bytesCopied: number;
  missingReferenced: string[];
  missingUnreferenced: string[];
}

async function copyBlobs(storage: StorageDriver, options: BackupOptions, blobs: SnapshotBlob[]): Promise<BlobsCopy> {
  const result: BlobsCopy = { copied: 0, present: 0, bytesCopied: 0, missingReferenced: [], missingUnreferenced: [] };
  await options.progress.start(
    blobs.length,
    blobs.reduce((sum, blob) => sum + blob.size, 0),
  );
  try {
    await forEachConcurrent(blobs, options.concurrency ?? 4, async (blob) => {
      const outcome = await copyBlobToBackup(storage, options.dir, blob, (bytes) => {
        result.bytesCopied += bytes;
        options.progress.advance(bytes);
      });
      if (outcome === 'copied') result.copied++;
      else if (outcome === 'present') {
        result.present++;
        options.progress.advance(blob.size);
      } else (blob.referenced ? result.missingReferenced : result.missingUnreferenced).push(blob.digest);
    });
  } finally {
    options.progress.stop();
  }
  return result;
}

/** What a run would copy, from a snapshot taken outside the backup directory. */
async function dryRun(config: Config, dir: string): Promise<BackupReport> {
  const scratch = await mkdtemp(join(tmpdir(), 'wharf-backup-'));
  try {
    const file = join(scratch, 'metadata.db');
    await snapshotMetadata(config.database, file);
    const contents = new SnapshotContents(file, { readonly: true });
    try {
      const blobs = contents.blobs();
      let toCopy = 0;
      let bytesToCopy = 0;
      for (const blob of blobs) {
        if (await present(blobPath(dir, blob.digest))) continue;
        toCopy++;
        bytesToCopy += blob.size;
      }
      const bytes = blobs.reduce((sum, blob) => sum + blob.size, 0);
      return {
        dryRun: true,
        blobs: blobs.length,
        bytes,
        toCopy,
        bytesToCopy,
        counts: {
          ...contents.counts(),
          blobs: blobs.length,
          blobsCopied: 0,
          blobsAlreadyPresent: blobs.length - toCopy,
        },
      };
    } finally {
      contents.close();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function removeSnapshotFile(path: string): Promise<void> {
  for (const suffix of ['', '-journal', '-wal', '-shm']) await rm(`${path}${suffix}`, { force: true });
}

async function present(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
