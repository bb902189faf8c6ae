import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline, Transform } from 'node:stream';
import type { Digest } from '../oci/digest.ts';
import { verifyingStream } from '../replication/verifying-stream.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { blobPath } from './backup-layout.ts';

/**
 * Puts one blob of the backup into storage the way a push does (stage, append, commit to its
 * content address), verified against its digest and size on the way: a corrupted backup blob fails
 * before it is committed, and its upload is cancelled.
 */
export async function restoreBlob(
  storage: StorageDriver,
  dir: string,
  blob: { digest: Digest; size: number },
  onBytes: (bytes: number) => void,
): Promise<void> {
  const id = randomUUID();
  await storage.startUpload(id);
  try {
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        onBytes(chunk.length);
        done(null, chunk);
      },
    });
    // The callback form returns the last stream and destroys it with the first error of any stage,
    // so a digest mismatch found at the end fails the append instead of ending it.
    const body = pipeline(
      createReadStream(blobPath(dir, blob.digest)),
      verifyingStream(blob, 'backup blob'),
      counter,
      () => {},
    );
    await storage.appendUpload(id, 0, body);
    await storage.commitUpload(id, blob.digest);
  } catch (error) {
    await storage.cancelUpload(id).catch(() => {});
    throw error;
  }
}
