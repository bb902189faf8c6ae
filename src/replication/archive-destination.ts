import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Pack, pack } from 'tar-stream';
import { type Digest, digestAlgorithm } from '../oci/digest.ts';
import type { Descriptor } from '../oci/manifest.ts';
import type { ManifestContent } from './client/index.ts';
import type { ImageDestination } from './image-transport.ts';
import {
  blobPath,
  emptyLayoutIndex,
  type LayoutIndex,
  layoutMarker,
  referrerEntry,
  refNameOf,
  serializeLayoutIndex,
  withRefName,
  withUnnamed,
} from './layout-index.ts';
import { syncFile } from './sync-file.ts';
import { TransportError } from './transport-error.ts';
import { verifyingStream } from './verifying-stream.ts';

/**
 * An OCI archive (`oci-archive:FILE`, the tar of an image layout) written as a stream: each blob
 * goes from its source through digest verification straight into the tar, one entry at a time,
 * and index.json is the last entry. The archive is built under a temporary name and renamed into
 * place on commit; an archive that was not committed is removed. A blob that fails midway
 * leaves the tar unusable, so the whole archive fails (re-run the export).
 */
export class ArchiveDestination implements ImageDestination {
  readonly description: string;
  private index: LayoutIndex = emptyLayoutIndex();
  private readonly written = new Set<string>();
  private readonly directories = new Set<string>();
  /** Entries are appended one at a time; this is the tail of the queue. */
  private queue: Promise<void> = Promise.resolve();
  private failure: unknown;
  private committed = false;

  private constructor(
    private readonly path: string,
    private readonly partial: string,
    private readonly tar: Pack,
    private readonly output: Promise<void>,
  ) {
    this.description = `oci-archive:${path}`;
  }

  static async create(path: string): Promise<ArchiveDestination> {
    const partial = `${path}.partial-${randomBytes(4).toString('hex')}`;
    const tar = pack();
    // tar-stream's streams are streamx, not Node streams: pipeline reads the pack as an iterable.
    const output = pipeline(async function* () {
      yield* tar;
    }, createWriteStream(partial));
    output.catch(() => {}); // observed on commit
    const archive = new ArchiveDestination(path, partial, tar, output);
    await archive.enqueue(() => archive.writing(() => archive.writeEntry('oci-layout', Buffer.from(layoutMarker))));
    return archive;
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return this.written.has(digest);
  }

  async resolveReference(reference: string): Promise<Digest | undefined> {
    return this.index.manifests.find((entry) => refNameOf(entry) === reference)?.digest;
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.written.has(descriptor.digest);
  }

  async mountBlob(): Promise<boolean> {
    return false;
  }

  putBlob(descriptor: Descriptor, openSource: () => Promise<Readable>): Promise<void> {
    return this.enqueue(async () => {
      if (this.written.has(descriptor.digest)) return;
      // A source that cannot be opened has written nothing yet: the archive stays usable.
      const source = await openSource();
      await this.writing(async () => {
        await this.ensureDirectory(descriptor.digest);
        const entry = this.tar.entry({ name: blobPath(descriptor.digest), size: descriptor.size, mode: 0o644 });
        await pipeInto(source, verifyingStream(descriptor), entry);
      });
      this.written.add(descriptor.digest);
    });
  }

  putManifest(manifest: ManifestContent, reference: string | undefined): Promise<void> {
    return this.enqueue(async () => {
      if (!this.written.has(manifest.digest)) {
        await this.writing(async () => {
          await this.ensureDirectory(manifest.digest);
          await this.writeEntry(blobPath(manifest.digest), manifest.bytes);
        });
        this.written.add(manifest.digest);
      }
      const descriptor: Descriptor = {
        mediaType: manifest.mediaType,
        digest: manifest.digest,
        size: manifest.bytes.length,
      };
      const referrer = referrerEntry(manifest);
      if (referrer) this.index = withUnnamed(this.index, referrer.descriptor);
      if (reference !== undefined && reference !== '') this.index = withRefName(this.index, descriptor, reference);
    });
  }

  async commit(): Promise<void> {
    await this.enqueue(() => this.writing(() => this.writeEntry('index.json', serializeLayoutIndex(this.index))));
    this.tar.finalize();
    await this.output;
    await syncFile(this.partial);
    await rename(this.partial, this.path);
    this.committed = true;
  }

  async close(): Promise<void> {
    if (this.committed) return;
    this.tar.destroy();
    await this.output.catch(() => {});
    await rm(this.partial, { force: true });
  }

  /** Runs `work` after every entry queued before it. */
  private enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.failure !== undefined) {
        throw new TransportError('invalid', `${this.description} is unusable after an earlier failure`, {
          cause: this.failure,
        });
      }
      await work();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** Writes into the tar; a failure midway leaves a broken entry, so the archive is given up. */
  private async writing(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.failure = error;
      throw error;
    }
  }

  private async ensureDirectory(digest: Digest): Promise<void> {
    for (const name of ['blobs/', `blobs/${digestAlgorithm(digest)}/`]) {
      if (this.directories.has(name)) continue;
      this.directories.add(name);
      await new Promise<void>((resolve, reject) => {
        // An empty body ends the entry; one left open would hold finalize() forever.
        const entry = this.tar.entry({ name, type: 'directory', mode: 0o755 }, (error) =>
          error ? reject(error) : resolve(),
        );
        entry.end();
      });
    }
  }

  private writeEntry(name: string, bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.tar.entry({ name, size: bytes.length, mode: 0o644 }, bytes, (error) => (error ? reject(error) : resolve()));
    });
  }
}

/** Copies `source` through `verifier` into a tar entry, honouring backpressure, and waits for the entry to close. */
async function pipeInto(
  source: Readable,
  verifier: ReturnType<typeof verifyingStream>,
  entry: Writable,
): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    entry.on('error', reject);
    entry.on('finish', resolve);
    entry.on('close', resolve);
  });
  try {
    await pipeline(source, verifier, async (chunks: AsyncIterable<Buffer>) => {
      for await (const chunk of chunks) {
        if (!entry.write(chunk)) await new Promise<void>((resolve) => entry.once('drain', () => resolve()));
      }
    });
  } catch (error) {
    entry.destroy(error as Error);
    throw error;
  }
  entry.end();
  await done;
}
