import { MediaTypes } from './media-types.ts';

/** The media types a client listed in Accept; `undefined` when it accepts anything. */
export type AcceptedTypes = ReadonlySet<string> | undefined;

export function parseAccept(headers: string | string[] | undefined): AcceptedTypes {
  const values = Array.isArray(headers) ? headers : headers === undefined ? [] : [headers];
  const types = new Set<string>();
  for (const value of values) {
    for (const part of value.split(',')) {
      const type = part.split(';', 1)[0]?.trim().toLowerCase();
      if (type) types.add(type);
    }
  }
  if (types.size === 0 || types.has('*/*')) return undefined;
  return types;
}

export type Negotiation = 'serve' | 'default-platform' | 'not-acceptable';

/**
 * Distribution's rules: an OCI manifest or index is only served to a client that accepts it; a
 * Docker manifest list fetched by tag by a client that does not accept lists gets the linux/amd64
 * image instead; everything else is served as stored (a digest names exact bytes).
 */
export function negotiateManifest(mediaType: string, accepted: AcceptedTypes, byTag: boolean): Negotiation {
  if (accepted === undefined || accepted.has(mediaType)) return 'serve';
  if (mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.ociIndex) return 'not-acceptable';
  if (mediaType === MediaTypes.dockerManifestList && byTag) return 'default-platform';
  return 'serve';
}
