import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/manifest.ts';
import type { ManifestContent } from './client/index.ts';
import type { ImageDestination } from './image-transport.ts';
import {
  blobPath,
  emptyLayoutIndex,
  type LayoutIndex,
  layoutMarker,
  parseLayoutIndex,
  referrerEntry,
  refNameOf,
  serializeLayoutIndex,
  withRefName,
  withUnnamed,
} from './layout-index.ts';
import { syncFile } from './sync-file.ts';
import { verifyingStream } from './verifying-stream.ts';

/**
 * An OCI image layout directory (`oci:DIR`) as a destination, created when missing and added to
 * when it exists. Blobs are written to a temporary name, verified, flushed and renamed, so the
 * layout never holds a partial blob; index.json is rewritten the same way on commit.
 */
export class LayoutDestination implements ImageDestination {
  readonly description: string;
  private changed = false;

  private constructor(
    private readonly root: string,
    private index: LayoutIndex,
  ) {
    this.description = `oci:${root}`;
  }

  /** With `dryRun`, only reads what is there: nothing is created (the engine writes nothing in a dry run). */
  static async open(root: string, options: { dryRun?: boolean } = {}): Promise<LayoutDestination> {
    if (!options.dryRun) await mkdir(join(root, 'blobs'), { recursive: true });
    let index = emptyLayoutIndex();
    try {
      index = parseLayoutIndex(await readFile(join(root, 'index.json')), root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (!options.dryRun) await writeAtomically(join(root, 'oci-layout'), Buffer.from(layoutMarker));
    return new LayoutDestination(root, index);
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await this.storedSize(digest)) !== undefined;
  }

  async resolveReference(reference: string): Promise<Digest | undefined> {
    return this.index.manifests.find((entry) => refNameOf(entry) === reference)?.digest;
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    return (await this.storedSize(descriptor.digest)) === descriptor.size;
  }

  async mountBlob(): Promise<boolean> {
    return false;
  }

  async putBlob(descriptor: Descriptor, openSource: () => Promise<Readable>): Promise<void> {
    const target = join(this.root, blobPath(descriptor.digest));
    await mkdir(dirname(target), { recursive: true });
    const partial = `${target}.partial-${randomBytes(4).toString('hex')}`;
    try {
      await pipeline(await openSource(), verifyingStream(descriptor), createWriteStream(partial));
      await syncFile(partial);
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  }

  async putManifest(manifest: ManifestContent, reference: string | undefined): Promise<void> {
    const descriptor: Descriptor = {
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.bytes.length,
    };
    if (!(await this.hasBlob(descriptor))) {
      await writeAtomically(join(this.root, blobPath(manifest.digest)), manifest.bytes);
    }
    const referrer = referrerEntry(manifest);
    if (referrer) this.update(withUnnamed(this.index, referrer.descriptor));
    if (reference !== undefined && reference !== '') this.update(withRefName(this.index, descriptor, reference));
  }

  async commit(): Promise<void> {
    if (!this.changed) return;
    await writeAtomically(join(this.root, 'index.json'), serializeLayoutIndex(this.index));
    this.changed = false;
  }

  async close(): Promise<void> {
    // Blobs already written are complete and content-addressed; keeping them lets a rerun skip them.
  }

  private update(index: LayoutIndex): void {
    if (index === this.index) return;
    this.index = index;
    this.changed = true;
  }

  private async storedSize(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(join(this.root, blobPath(digest)))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
}

async function writeAtomically(path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.partial-${randomBytes(4).toString('hex')}`;
  const handle = await open(partial, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, path);
}
