import { type Digest, digestAlgorithm } from '../oci/digest.ts';
import { forEachConcurrent } from '../replication/for-each-concurrent.ts';
import { blobPath, snapshotPath } from './backup-layout.ts';
import { type BackupManifest, readManifest } from './backup-manifest.ts';
import { hashFile } from './hash-file.ts';
import { SnapshotContents } from './snapshot-contents.ts';

export interface VerifyProgress {
  start(blobs: number, bytes: number): void;
  advance(bytes: number): void;
  stop(): void;
}

export interface VerifyReport {
  manifest: BackupManifest;
  blobs: number;
  bytes: number;
  /** One line per problem: a snapshot that does not match, a blob absent or not matching its digest. */
  problems: string[];
}

/**
 * `wharf backup verify`: re-hashes the snapshot against the manifest and every blob the snapshot
 * describes against its digest and size, reading each file as a stream.
 */
export async function verifyBackup(dir: string, progress: VerifyProgress, concurrency = 2): Promise<VerifyReport> {
  const manifest = await readManifest(dir);
  const problems: string[] = [];
  const snapshot = await hashFile(snapshotPath(dir)).catch(() => undefined);
  if (snapshot?.digest !== manifest.snapshot.digest) {
    problems.push(
      snapshot === undefined
        ? 'metadata.db: missing'
        : `metadata.db: digest ${snapshot.digest}, the manifest says ${manifest.snapshot.digest}`,
    );
    return { manifest, blobs: 0, bytes: 0, problems };
  }
  const contents = new SnapshotContents(snapshotPath(dir), { readonly: true });
  let blobs: { digest: Digest; size: number }[];
  let unlisted: string[];
  try {
    blobs = contents.blobs();
    const listed = new Set<string>(blobs.map((blob) => blob.digest));
    unlisted = contents.referencedDigests().filter((digest) => !listed.has(digest));
  } finally {
    contents.close();
  }
  for (const digest of unlisted) problems.push(`${digest}: referenced by a manifest but not in the snapshot's blobs`);
  const bytes = blobs.reduce((sum, blob) => sum + blob.size, 0);
  progress.start(blobs.length, bytes);
  try {
    await forEachConcurrent(blobs, concurrency, async (blob) => {
      const actual = await hashFile(blobPath(dir, blob.digest), digestAlgorithm(blob.digest)).catch(
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined;
          throw error;
        },
      );
      progress.advance(blob.size);
      if (actual === undefined) problems.push(`${blob.digest}: missing`);
      else if (actual.digest !== blob.digest)
        problems.push(`${blob.digest}: corrupted (content hashes to ${actual.digest})`);
      else if (actual.size !== blob.size) problems.push(`${blob.digest}: ${actual.size} bytes, expected ${blob.size}`);
    });
  } finally {
    progress.stop();
  }
  return { manifest, blobs: blobs.length, bytes, problems: problems.sort() };
}
