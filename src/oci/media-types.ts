export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

/** Media types of manifests that point at blobs (config + layers). */
export const imageManifestTypes: ReadonlySet<string> = new Set([MediaTypes.ociManifest, MediaTypes.dockerManifest]);
/** Media types of manifests that point at other manifests. */
export const indexManifestTypes: ReadonlySet<string> = new Set([MediaTypes.ociIndex, MediaTypes.dockerManifestList]);
export const schema1Types: ReadonlySet<string> = new Set([
  MediaTypes.dockerSchema1,
  MediaTypes.dockerSchema1Signed,
  'application/json',
]);

export function isManifestMediaType(mediaType: string): boolean {
  return imageManifestTypes.has(mediaType) || indexManifestTypes.has(mediaType);
}

/** `type/subtype` without parameters, lower-cased; Content-Type headers may carry `; charset=...`. */
export function bareMediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
}
