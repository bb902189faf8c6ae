import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../oci/digest.ts';
import { verifyingStream } from '../replication/verifying-stream.ts';
import { type StorageDriver, StorageNotFoundError } from '../storage/driver.ts';
import { blobPath } from './backup-layout.ts';
import { syncFile } from './hash-file.ts';

export type BlobCopyOutcome = 'copied' | 'present' | 'missing';

/**
 * Copies one blob from storage into the backup directory unless the directory has it: streamed,
 * verified against its digest and size while it passes, written to a temporary name, flushed, then
 * renamed. A file at the blob's path is therefore always complete, which is what lets an
 * interrupted run resume by skipping it. `missing` when storage no longer has the blob.
 */
export async function copyBlobToBackup(
  storage: StorageDriver,
  dir: string,
  blob: { digest: Digest; size: number },
  onBytes: (bytes: number) => void,
): Promise<BlobCopyOutcome> {
  const path = blobPath(dir, blob.digest);
  if (await exists(path)) return 'present';
  let source: NodeJS.ReadableStream;
  try {
    source = await storage.readBlob(blob.digest);
  } catch (error) {
    if (error instanceof StorageNotFoundError) return 'missing';
    throw error;
  }
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.partial`;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, verifyingStream(blob), counter, createWriteStream(partial));
    await syncFile(partial);
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return 'copied';
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
