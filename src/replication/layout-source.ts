import type { Readable } from 'node:stream';
import { type Digest, isDigest, parseDigest } from '../oci/digest.ts';
import { type Descriptor, maxManifestBytes } from '../oci/manifest.ts';
import { isManifestMediaType } from '../oci/media-types.ts';
import {
  DigestMismatchError,
  type ManifestContent,
  manifestMediaType,
  verifiedManifestDigest,
} from './client/index.ts';
import type { ImageSource } from './image-transport.ts';
import type { LayoutFiles } from './layout-files.ts';
import { blobPath, type LayoutIndex, parseLayoutIndex, referrerEntry, refNameOf } from './layout-index.ts';
import { TransportError } from './transport-error.ts';
import { verifyingStream } from './verifying-stream.ts';

export interface NamedImage {
  /** The `org.opencontainers.image.ref.name` of the entry. */
  name: string;
  descriptor: Descriptor;
}

/**
 * An OCI image layout (a directory, or the tar of one) as a source. Images are named by the
 * `org.opencontainers.image.ref.name` annotation of index.json; an empty reference means the
 * layout's only image. Referrers are the manifests index.json lists whose `subject` names the digest.
 */
export class LayoutSource implements ImageSource {
  readonly description: string;
  private index: Promise<LayoutIndex> | undefined;
  private subjects: Promise<Map<string, Descriptor[]>> | undefined;

  constructor(
    private readonly files: LayoutFiles,
    scheme: 'oci' | 'oci-archive',
  ) {
    this.description = `${scheme}:${files.description}`;
  }

  /** Every named entry of index.json, in its order. */
  async namedImages(): Promise<NamedImage[]> {
    const index = await this.loadIndex();
    return index.manifests.flatMap((descriptor) => {
      const name = refNameOf(descriptor);
      return name === undefined ? [] : [{ name, descriptor }];
    });
  }

  async getManifest(reference: string): Promise<ManifestContent> {
    const descriptor = await this.resolve(reference);
    const bytes = await this.files.read(blobPath(descriptor.digest), maxManifestBytes);
    if (bytes === undefined) {
      throw new TransportError(
        'not-found',
        `${this.description}: manifest ${descriptor.digest} is missing from blobs/`,
      );
    }
    if (descriptor.size >= 0 && bytes.length !== descriptor.size) {
      throw new DigestMismatchError(
        `manifest ${descriptor.digest} length`,
        `${descriptor.size} bytes`,
        `${bytes.length} bytes`,
      );
    }
    const digest = verifiedManifestDigest(bytes, descriptor.digest, undefined);
    const declared = isManifestMediaType(descriptor.mediaType) ? descriptor.mediaType : undefined;
    return { bytes, digest, mediaType: declared ?? manifestMediaType(undefined, bytes) };
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    const source = await this.files.open(blobPath(descriptor.digest));
    const verifier = verifyingStream(descriptor);
    source.on('error', (error) => verifier.destroy(error));
    verifier.on('close', () => source.destroy());
    return source.pipe(verifier);
  }

  async referrers(subject: Digest): Promise<Descriptor[]> {
    this.subjects ??= this.indexSubjects();
    return (await this.subjects).get(subject) ?? [];
  }

  async close(): Promise<void> {
    await this.files.close();
  }

  private loadIndex(): Promise<LayoutIndex> {
    this.index ??= (async () => {
      const bytes = await this.files.read('index.json', maxManifestBytes * 16);
      if (bytes === undefined) {
        throw new TransportError('invalid', `${this.description} is not an OCI image layout (no index.json)`);
      }
      return parseLayoutIndex(bytes, this.description);
    })();
    return this.index;
  }

  private async resolve(reference: string): Promise<Descriptor> {
    const index = await this.loadIndex();
    if (isDigest(reference)) {
      const digest = parseDigest(reference);
      const listed = index.manifests.find((entry) => entry.digest === digest);
      return listed ?? { mediaType: '', digest, size: -1 };
    }
    if (reference === '') {
      if (index.manifests.length === 1) return index.manifests[0] as Descriptor;
      throw new TransportError(
        'usage',
        `${this.description} holds ${index.manifests.length} images: name one (${this.description}:NAME)`,
      );
    }
    const found = index.manifests.filter((entry) => refNameOf(entry) === reference);
    if (found.length === 0)
      throw new TransportError('not-found', `${this.description} has no image named "${reference}"`);
    return found.at(-1) as Descriptor;
  }

  /** Which manifests of index.json refer to which subject (read once, on the first question). */
  private async indexSubjects(): Promise<Map<string, Descriptor[]>> {
    const index = await this.loadIndex();
    const subjects = new Map<string, Descriptor[]>();
    const seen = new Set<string>();
    for (const entry of index.manifests) {
      if (seen.has(entry.digest) || !isManifestMediaType(entry.mediaType)) continue;
      seen.add(entry.digest);
      const manifest = await this.getManifest(entry.digest);
      const referrer = referrerEntry(manifest);
      if (referrer === undefined) continue;
      const list = subjects.get(referrer.subject) ?? [];
      list.push(referrer.descriptor);
      subjects.set(referrer.subject, list);
    }
    return subjects;
  }
}
