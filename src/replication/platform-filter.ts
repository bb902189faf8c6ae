import type { Descriptor, Platform } from '../oci/manifest.ts';
import { TransportError } from './transport-error.ts';

/** `os/arch[/variant]` as `--platform` takes it. */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || (parts.length === 3 && !variant)) {
    throw new TransportError('usage', `invalid platform "${value}": expected OS/ARCH[/VARIANT], e.g. linux/arm64`);
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(platform: Platform | undefined): string {
  if (platform === undefined) return 'unknown';
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** arm64's only variant is v8, so `linux/arm64` and `linux/arm64/v8` name the same images. */
function variantOf(platform: Platform): string | undefined {
  return platform.variant ?? (platform.architecture === 'arm64' ? 'v8' : undefined);
}

/** Whether an index entry's platform is one asked for; a filter without a variant takes any variant. */
export function platformMatches(entry: Platform | undefined, wanted: Platform): boolean {
  if (entry === undefined || entry.os !== wanted.os || entry.architecture !== wanted.architecture) return false;
  return wanted.variant === undefined || variantOf(entry) === variantOf(wanted);
}

const referenceDigestAnnotation = 'vnd.docker.reference.digest';

/**
 * The entries of an index to keep for `platforms`: those whose platform matches, and the
 * attestation manifests (BuildKit's `unknown/unknown` entries) that describe a kept one.
 */
export function selectPlatforms(entries: readonly Descriptor[], platforms: readonly Platform[]): Descriptor[] {
  const kept = entries.filter((entry) => platforms.some((wanted) => platformMatches(entry.platform, wanted)));
  const keptDigests = new Set(kept.map((entry) => entry.digest as string));
  return entries.filter(
    (entry) =>
      keptDigests.has(entry.digest) ||
      (entry.annotations?.[referenceDigestAnnotation] !== undefined &&
        keptDigests.has(entry.annotations[referenceDigestAnnotation])),
  );
}
