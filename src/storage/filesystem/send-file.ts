import { once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

const bufferSize = 4 * 1024 * 1024;
const bufferCount = 2;

/**
 * Copies bytes [start, end) of an open file into `destination` through `bufferCount` reused
 * buffers: a buffer is read into again only after the write of its previous contents completed,
 * which keeps a multi-GB download free of per-chunk allocation and garbage collection while
 * several reads stay in flight.
 */
export async function sendFileRange(
  handle: FileHandle,
  start: number,
  end: number,
  destination: Writable,
): Promise<void> {
  const buffers = Array.from({ length: bufferCount }, () => Buffer.allocUnsafeSlow(bufferSize));
  const writes: Array<Promise<void> | undefined> = new Array(bufferCount);
  let failure: Error | undefined;
  const onClose = () => {
    failure ??= new Error('the client closed the connection');
  };
  destination.once('close', onClose);
  try {
    let position = start;
    for (let slot = 0; position < end; slot = (slot + 1) % bufferCount) {
      await writes[slot];
      if (failure) throw failure;
      const buffer = buffers[slot] as Buffer;
      const { bytesRead } = await handle.read(buffer, 0, Math.min(bufferSize, end - position), position);
      if (bytesRead === 0) throw new Error(`file ended at ${position} of ${end} bytes`);
      position += bytesRead;
      writes[slot] = new Promise<void>((resolve, reject) => {
        destination.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead), (error) => {
          if (error) {
            failure ??= error;
            reject(error);
          } else resolve();
        });
      });
      // Keep the promise from being reported as unhandled while later slots are busy.
      writes[slot]?.catch(() => {});
      if (destination.writableNeedDrain) await Promise.race([once(destination, 'drain'), once(destination, 'close')]);
    }
    await Promise.all(writes);
    if (failure) throw failure;
  } finally {
    destination.off('close', onClose);
  }
}
