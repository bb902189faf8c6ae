import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, opendir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, digestAlgorithm, digestHex, isDigest } from '../../oci/digest.ts';
import {
  type BlobStat,
  type ByteRange,
  isUploadId,
  type StorageDriver,
  StorageNotFoundError,
  type UploadStat,
} from '../driver.ts';
import { UploadOffsetError } from '../upload-offset-error.ts';
import { sendFileRange } from './send-file.ts';
import { sendFileToSocket } from './sendfile-to-socket.ts';

/**
 * Blobs live at `<root>/blobs/<algorithm>/<first two hex>/<hex>`, one copy per digest whatever the
 * repository; uploads are staged at `<root>/uploads/<id>` on the same file system so that the
 * final step is an atomic rename. Every write is fsynced before it is acknowledged.
 */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  private readonly blobsDir: string;
  private readonly uploadsDir: string;

  constructor(readonly rootDirectory: string) {
    this.blobsDir = join(rootDirectory, 'blobs');
    this.uploadsDir = join(rootDirectory, 'uploads');
  }

  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await mkdir(this.uploadsDir, { recursive: true });
  }

  async statBlob(digest: Digest): Promise<BlobStat | undefined> {
    const info = await statOrUndefined(this.blobPath(digest));
    return info ? { size: info.size, modifiedAt: info.mtime } : undefined;
  }

  async readBlob(digest: Digest, range?: ByteRange): Promise<Readable> {
    return openReadStream(this.blobPath(digest), `blob ${digest}`, range);
  }

  async sendBlob(digest: Digest, range: ByteRange | undefined, destination: Writable): Promise<void> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.blobPath(digest), 'r');
    } catch (error) {
      if (isNotFound(error)) throw new StorageNotFoundError(`blob ${digest}`);
      throw error;
    }
    try {
      const start = range?.start ?? 0;
      const end = range ? range.end + 1 : (await handle.stat()).size;
      if (!(await sendFileToSocket(handle, start, end, destination))) {
        await sendFileRange(handle, start, end, destination);
      }
    } finally {
      await handle.close();
    }
  }

  async deleteBlob(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async *listBlobs(): AsyncIterable<Digest> {
    for (const algorithm of await readdirOrEmpty(this.blobsDir)) {
      for (const prefix of await readdirOrEmpty(join(this.blobsDir, algorithm))) {
        for (const hex of await readdirOrEmpty(join(this.blobsDir, algorithm, prefix))) {
          const candidate = `${algorithm}:${hex}`;
          if (isDigest(candidate)) yield candidate as Digest;
        }
      }
    }
  }

  async blobRedirectURL(): Promise<string | undefined> {
    return undefined;
  }

  async startUpload(id: string): Promise<void> {
    const handle = await open(this.uploadPath(id), 'wx');
    await handle.close();
  }

  async appendUpload(id: string, offset: number, source: Readable): Promise<number> {
    const path = this.uploadPath(id);
    const before = await statOrUndefined(path);
    if (!before) throw new StorageNotFoundError(`upload ${id}`);
    if (before.size !== offset) throw new UploadOffsetError(before.size);
    try {
      await pipeline(source, createWriteStream(path, { flags: 'r+', start: offset, highWaterMark: 1024 * 1024 }));
    } finally {
      // Whatever reached the file stays: the client learns the durable size from the upload's Range.
      await syncFile(path);
    }
    return (await stat(path)).size;
  }

  async statUpload(id: string): Promise<UploadStat | undefined> {
    const info = await statOrUndefined(this.uploadPath(id));
    return info
      ? { size: info.size, startedAt: info.birthtime.getTime() > 0 ? info.birthtime : info.ctime }
      : undefined;
  }

  async readUpload(id: string): Promise<Readable> {
    return openReadStream(this.uploadPath(id), `upload ${id}`);
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const target = this.blobPath(digest);
    if (await statOrUndefined(target)) {
      await this.cancelUpload(id);
      return;
    }
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(this.uploadPath(id), target);
    } catch (error) {
      if (isNotFound(error)) throw new StorageNotFoundError(`upload ${id}`);
      throw error;
    }
    await syncDirectory(dirname(target));
  }

  async cancelUpload(id: string): Promise<void> {
    await rm(this.uploadPath(id), { force: true });
  }

  async *listUploads(): AsyncIterable<string> {
    for (const entry of await readdirOrEmpty(this.uploadsDir)) {
      if (isUploadId(entry)) yield entry;
    }
  }

  async ping(): Promise<void> {
    const directory = await opendir(this.blobsDir);
    await directory.close();
  }

  private blobPath(digest: Digest): string {
    const hex = digestHex(digest);
    return join(this.blobsDir, digestAlgorithm(digest), hex.slice(0, 2), hex);
  }

  private uploadPath(id: string): string {
    if (!isUploadId(id)) throw new StorageNotFoundError(`upload ${id.slice(0, 64)}`);
    return join(this.uploadsDir, id);
  }
}

async function openReadStream(path: string, what: string, range?: ByteRange): Promise<Readable> {
  // Open first so a missing file is an error here, not an 'error' event after headers went out.
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isNotFound(error)) throw new StorageNotFoundError(what);
    throw error;
  }
  return createReadStream('', {
    fd: handle,
    start: range?.start,
    end: range?.end,
    highWaterMark: 1024 * 1024,
  });
}

/** fsync through a fresh descriptor: Linux flushes the file's dirty pages whichever fd wrote them. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
