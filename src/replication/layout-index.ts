import { type Digest, digestAlgorithm, digestHex } from '../oci/digest.ts';
import { type Descriptor, parseDescriptor, parseManifest } from '../oci/manifest.ts';
import { MediaTypes } from '../oci/media-types.ts';
import { TransportError } from './transport-error.ts';

/** The annotation of index.json that names an image in an OCI layout (its "tag"). */
export const refNameAnnotation = 'org.opencontainers.image.ref.name';

export const layoutMarker = JSON.stringify({ imageLayoutVersion: '1.0.0' });

/** index.json: the layout's entry points. */
export interface LayoutIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** Where a layout keeps the blob of `digest`. */
export function blobPath(digest: Digest): string {
  return `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

export function emptyLayoutIndex(): LayoutIndex {
  return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
}

export function parseLayoutIndex(bytes: Buffer, where: string): LayoutIndex {
  let json: { manifests?: unknown; annotations?: unknown };
  try {
    json = JSON.parse(bytes.toString('utf8')) as typeof json;
  } catch (error) {
    throw new TransportError('invalid', `${where}/index.json is not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(json.manifests)) throw new TransportError('invalid', `${where}/index.json has no "manifests"`);
  let manifests: Descriptor[];
  try {
    manifests = json.manifests.map((entry, index) => parseDescriptor(entry, `manifests[${index}]`));
  } catch (error) {
    throw new TransportError('invalid', `${where}/index.json: ${(error as Error).message}`);
  }
  const index: LayoutIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
  if (typeof json.annotations === 'object' && json.annotations !== null) {
    index.annotations = json.annotations as Record<string, string>;
  }
  return index;
}

export function serializeLayoutIndex(index: LayoutIndex): Buffer {
  return Buffer.from(`${JSON.stringify(index, null, 2)}\n`);
}

export function refNameOf(descriptor: Descriptor): string | undefined {
  return descriptor.annotations?.[refNameAnnotation];
}

/** index.json with `reference` pointing at `descriptor` (replacing an earlier entry of that name). */
export function withRefName(index: LayoutIndex, descriptor: Descriptor, reference: string): LayoutIndex {
  const entry: Descriptor = {
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
    annotations: { [refNameAnnotation]: reference },
  };
  return { ...index, manifests: [...index.manifests.filter((other) => refNameOf(other) !== reference), entry] };
}

/** index.json also listing `descriptor` without a name (a referrer), unless it lists it already. */
export function withUnnamed(index: LayoutIndex, descriptor: Descriptor): LayoutIndex {
  if (index.manifests.some((other) => other.digest === descriptor.digest)) return index;
  return { ...index, manifests: [...index.manifests, descriptor] };
}

/**
 * The unnamed index.json entry that keeps a referrer findable in a layout (which has no referrers
 * API): its descriptor with artifactType and annotations, or undefined when it has no subject.
 */
export function referrerEntry(manifest: {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}): { subject: Digest; descriptor: Descriptor } | undefined {
  let parsed: ReturnType<typeof parseManifest>;
  try {
    parsed = parseManifest(manifest.bytes, manifest.mediaType);
  } catch {
    return undefined;
  }
  if (parsed.subject === undefined) return undefined;
  const descriptor: Descriptor = {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.bytes.length,
    ...(parsed.artifactType === undefined ? {} : { artifactType: parsed.artifactType }),
    ...(parsed.annotations === undefined ? {} : { annotations: parsed.annotations }),
  };
  return { subject: parsed.subject.digest, descriptor };
}
