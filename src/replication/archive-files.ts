import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { LayoutFiles } from './layout-files.ts';
import { indexTar, type TarEntry } from './tar-index.ts';
import { TransportError } from './transport-error.ts';

/**
 * The files of an OCI layout inside a tar archive (`oci-archive:`), read in place: the archive's
 * headers are indexed once, then each file is streamed from its offset. Nothing is extracted.
 */
export class ArchiveFiles implements LayoutFiles {
  readonly description: string;

  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
    private readonly entries: Map<string, TarEntry>,
  ) {
    this.description = path;
  }

  static async open(path: string): Promise<ArchiveFiles> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new TransportError('not-found', `${path} does not exist`);
      throw error;
    }
    try {
      return new ArchiveFiles(path, handle, await indexTar(handle, path));
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async read(path: string, limit: number): Promise<Buffer | undefined> {
    const entry = this.entries.get(path);
    if (entry === undefined) return undefined;
    if (entry.size > limit) throw new TransportError('invalid', `${this.path}: ${path} is larger than ${limit} bytes`);
    const buffer = Buffer.alloc(entry.size);
    let done = 0;
    while (done < entry.size) {
      const { bytesRead } = await this.handle.read(buffer, done, entry.size - done, entry.offset + done);
      if (bytesRead === 0) throw new TransportError('invalid', `${this.path} is truncated`);
      done += bytesRead;
    }
    return buffer;
  }

  async open(path: string): Promise<Readable> {
    const entry = this.entries.get(path);
    if (entry === undefined) throw new TransportError('not-found', `${this.path} has no ${path}`);
    if (entry.size === 0) return Readable.from([]);
    return createReadStream(this.path, { start: entry.offset, end: entry.offset + entry.size - 1 });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
