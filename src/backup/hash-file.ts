import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createDigester, type DigestAlgorithm, finishDigest } from '../oci/digest.ts';

/** The file's digest and size, read as a stream. */
export async function hashFile(
  path: string,
  algorithm: DigestAlgorithm = 'sha256',
): Promise<{ digest: string; size: number }> {
  const hash = createDigester(algorithm);
  let size = 0;
  await pipeline(createReadStream(path), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      size += chunk.length;
      hash.update(chunk);
    }
  });
  return { digest: finishDigest(hash, algorithm), size };
}

/** Flushes a written file to disk before it is renamed into place. */
export async function syncFile(path: string): Promise<void> {
  const file = await open(path, 'r+');
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}
