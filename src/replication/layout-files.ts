import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { TransportError } from './transport-error.ts';

/** Read access to the files of an OCI image layout, wherever they are (a directory, a tar archive). */
export interface LayoutFiles {
  /** For messages: the directory or archive path. */
  readonly description: string;
  /** The file's bytes, undefined when it does not exist; more than `limit` bytes is an error. */
  read(path: string, limit: number): Promise<Buffer | undefined>;
  /** The file as a stream; throws TransportError('not-found') when it does not exist. */
  open(path: string): Promise<Readable>;
  close(): Promise<void>;
}

/** A layout directory on disk. */
export class DirectoryFiles implements LayoutFiles {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = root;
  }

  async read(path: string, limit: number): Promise<Buffer | undefined> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(join(this.root, path), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      if (size > limit) throw new TransportError('invalid', `${join(this.root, path)} is larger than ${limit} bytes`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async open(path: string): Promise<Readable> {
    const full = join(this.root, path);
    try {
      await stat(full);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new TransportError('not-found', `${full} does not exist`);
      }
      throw error;
    }
    return createReadStream(full);
  }

  async close(): Promise<void> {
    // nothing held open between reads
  }
}
