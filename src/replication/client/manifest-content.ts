import { type Digest, digestAlgorithm, digestOf, isDigest, parseDigest } from '../../oci/digest.ts';
import { bareMediaType, isManifestMediaType, MediaTypes } from '../../oci/media-types.ts';
import { DigestMismatchError } from './registry-client-error.ts';

/** Manifest bytes exactly as the registry holds them, their media type and their digest. */
export interface ManifestContent {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

/** The manifest types the client accepts unless told otherwise: OCI and Docker schema 2, images and indexes. */
export const manifestMediaTypes: readonly string[] = [
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
];

/**
 * The media type of fetched manifest bytes: the Content-Type when it names a manifest type, else
 * the manifest's own `mediaType`, else its shape (OCI allows omitting the field).
 */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const declared = bareMediaType(contentType);
  if (isManifestMediaType(declared)) return declared;
  try {
    const json = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof json.mediaType === 'string' && json.mediaType !== '') return json.mediaType;
    if (Array.isArray(json.manifests)) return MediaTypes.ociIndex;
  } catch {
    // not JSON: the declared type is all there is
  }
  return declared || MediaTypes.ociManifest;
}

/**
 * The digest of fetched manifest bytes, checked against what names them: the digest asked for,
 * else the registry's Docker-Content-Digest (with its algorithm). Throws DigestMismatchError.
 */
export function verifiedManifestDigest(bytes: Buffer, reference: string, headerDigest: string | undefined): Digest {
  if (reference.includes(':')) {
    const expected = parseDigest(reference);
    const actual = digestOf(bytes, digestAlgorithm(expected));
    if (actual !== expected) throw new DigestMismatchError(`manifest ${reference}`, expected, actual);
    return expected;
  }
  if (headerDigest !== undefined && isDigest(headerDigest)) {
    const expected = parseDigest(headerDigest);
    const actual = digestOf(bytes, digestAlgorithm(expected));
    if (actual !== expected) {
      throw new DigestMismatchError(`manifest ${reference} (Docker-Content-Digest)`, expected, actual);
    }
    return expected;
  }
  return digestOf(bytes);
}
