import { EventEmitter } from 'node:events';
import { type FileHandle, mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

/** How much one read of the spool hands to a reader. */
const readChunkBytes = 256 * 1024;

/**
 * A blob being fetched, kept on local disk while it arrives so that any number of readers, joining
 * at any time, stream it from the first byte (or any offset) as far as it has come, and wait for
 * the rest. The file is unlinked as soon as it is open: nothing is left behind by a crash, and the
 * space is freed when the last reader and the writer are done.
 */
export class SpoolFile {
  private written = 0;
  private state: 'writing' | 'complete' | 'failed' = 'writing';
  private failure: Error | undefined;
  private users = 1;
  private readonly progress = new EventEmitter();

  private constructor(
    private readonly handle: FileHandle,
    /** The total length announced by the upstream. */
    readonly size: number,
  ) {
    this.progress.setMaxListeners(0);
  }

  static async create(directory: string, size: number): Promise<SpoolFile> {
    await mkdir(directory, { recursive: true });
    const path = join(directory, `spool-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const handle = await open(path, 'w+', 0o600);
    await unlink(path).catch(() => {});
    return new SpoolFile(handle, size);
  }

  /** Appends a chunk; readers waiting for it are woken. */
  async append(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset, this.written);
      offset += bytesWritten;
      this.written += bytesWritten;
    }
    this.progress.emit('change');
  }

  /** Every byte arrived. */
  complete(): void {
    if (this.state !== 'writing') return;
    this.state = 'complete';
    this.progress.emit('change');
  }

  /** The fetch failed: readers still waiting for bytes end with this error. */
  fail(error: Error): void {
    if (this.state !== 'writing') return;
    this.state = 'failed';
    this.failure = error;
    this.progress.emit('change');
  }

  /**
   * The owner will create no more readers; the file is closed once the readers already created are
   * done.
   */
  close(): void {
    this.release();
  }

  /** A stream of bytes `start` to `end` inclusive, following the writer until they have all arrived. */
  reader(start = 0, end = this.size - 1): Readable {
    this.users += 1;
    const cursor = { position: start };
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.release();
    };
    const stream = new Readable({
      highWaterMark: readChunkBytes,
      read: () => {
        this.readInto(stream, cursor, end).catch((error: Error) => stream.destroy(error));
      },
      destroy: (error, callback) => {
        release();
        callback(error);
      },
    });
    stream.once('end', release);
    return stream;
  }

  /**
   * Pushes the next available bytes, waiting for them when needed. The cursor moves before the push,
   * which may ask for the next bytes at once.
   */
  private async readInto(stream: Readable, cursor: { position: number }, end: number): Promise<void> {
    const position = cursor.position;
    if (position > end) {
      stream.push(null);
      return;
    }
    await this.waitForByte(position);
    const length = Math.min(readChunkBytes, end - position + 1, this.written - position);
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.handle.read(buffer, 0, length, position);
    if (bytesRead === 0) throw new Error('the spooled blob could not be read back');
    cursor.position = position + bytesRead;
    stream.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
  }

  private waitForByte(position: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.written > position) {
          this.progress.off('change', check);
          resolve();
        } else if (this.state === 'failed') {
          this.progress.off('change', check);
          reject(this.failure ?? new Error('the upstream fetch failed'));
        } else if (this.state === 'complete') {
          this.progress.off('change', check);
          reject(new Error(`the blob ended after ${this.written} of ${this.size} bytes`));
        }
      };
      this.progress.on('change', check);
      check();
    });
  }

  private release(): void {
    this.users -= 1;
    if (this.users === 0) void this.handle.close().catch(() => {});
  }
}
