import { type Digest, digestAlgorithm, digestHex } from '../../oci/digest.ts';
import type { Descriptor } from '../../oci/manifest.ts';
import { MediaTypes } from '../../oci/media-types.ts';

/**
 * The tag under which a registry without the referrers API keeps the index of a subject's
 * referrers (distribution-spec "referrers tag schema"): `<alg>-<hex>`, cut to a tag's 128
 * characters.
 */
export function referrersFallbackTag(subject: Digest): string {
  return `${digestAlgorithm(subject)}-${digestHex(subject)}`.slice(0, 128);
}

/**
 * Whether a tag is a referrers fallback index (`sha256-<64 hex>`) rather than an image: copying the
 * referrers with their subject recreates it where it is needed. cosign's `sha256-<hex>.sig` tags are
 * images and do not match.
 */
export function isReferrersFallbackTag(tag: string): boolean {
  return /^(sha256-[a-f0-9]{64}|sha512-[a-f0-9]{64})$/.test(tag);
}

/** The descriptor a referrers list holds for a manifest: its type, artifact type and annotations. */
export function referrerDescriptor(
  manifest: { digest: Digest; mediaType: string; size: number },
  parsed: { artifactType?: string; annotations?: Record<string, string> },
): Descriptor {
  return {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.size,
    ...(parsed.artifactType === undefined ? {} : { artifactType: parsed.artifactType }),
    ...(parsed.annotations === undefined ? {} : { annotations: parsed.annotations }),
  };
}

/** The fallback index with `descriptor` added; undefined when it already lists that digest. */
export function withReferrer(existing: Buffer | undefined, descriptor: Descriptor): Buffer | undefined {
  const index =
    existing === undefined
      ? { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] as Descriptor[] }
      : (JSON.parse(existing.toString('utf8')) as { manifests?: Descriptor[] });
  const manifests = Array.isArray(index.manifests) ? index.manifests : [];
  if (manifests.some((entry) => entry.digest === descriptor.digest)) return undefined;
  return Buffer.from(JSON.stringify({ ...index, manifests: [...manifests, descriptor] }));
}

/** Keeps the descriptors of the wanted artifact type, for registries that do not filter. */
export function filterByArtifactType(manifests: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType === undefined ? manifests : manifests.filter((entry) => entry.artifactType === artifactType);
}
