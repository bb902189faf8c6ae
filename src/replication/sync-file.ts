import { open } from 'node:fs/promises';

/** Flushes a written file to disk (fsync applies to the file, whichever descriptor wrote it). */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
