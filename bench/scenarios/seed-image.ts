import { Blob, digestOf } from '../blob-data.ts';
import type { RegistryClient } from '../registry-client.ts';

export const ociManifestType = 'application/vnd.oci.image.manifest.v1+json';
export const manifestAccept = [
  ociManifestType,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** Pushes a small single-layer OCI image (config + layer blobs) and returns its manifest bytes, not yet tagged. */
export async function pushSeedImage(client: RegistryClient, repository: string): Promise<Buffer> {
  const layer = Blob.generate(64 * 1024);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
      config: {},
    }),
  );
  const configBlob = { size: config.length, digest: digestOf(config) };
  await client.pushMonolithic(repository, layer);
  await client.pushBytes(repository, config, configBlob.digest);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifestType,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: layer.size, digest: layer.digest }],
    }),
  );
}
