import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.ts';
import { isRegistryError } from '../oci/errors.ts';
import type { Descriptor } from '../oci/manifest.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import { DigestMismatchError, type ManifestContent } from './client/index.ts';
import type { ImageDestination } from './image-transport.ts';

/**
 * A repository of this registry written through RegistryService (never around it), without
 * HTTP: what `wharf import --config` loads into a stopped registry. The service verifies every
 * digest; a blob any repository of the registry holds is linked instead of copied.
 */
export class ServiceDestination implements ImageDestination {
  readonly description: string;

  constructor(
    private readonly service: RegistryService,
    readonly repository: string,
  ) {
    this.description = `registry:${repository}`;
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await this.resolveReference(digest)) !== undefined;
  }

  async resolveReference(reference: string): Promise<Digest | undefined> {
    try {
      return (await this.service.statManifest(this.repository, reference, undefined)).digest as Digest;
    } catch (error) {
      if (isRegistryError(error) && error.code === 'MANIFEST_UNKNOWN') return undefined;
      throw error;
    }
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    try {
      return (await this.service.statBlob(this.repository, descriptor.digest)) === descriptor.size;
    } catch (error) {
      if (isRegistryError(error) && error.code === 'BLOB_UNKNOWN') return false;
      throw error;
    }
  }

  async mountBlob(descriptor: Descriptor): Promise<boolean> {
    return (await this.service.mountBlob(this.repository, descriptor.digest, undefined)) !== undefined;
  }

  async putBlob(descriptor: Descriptor, open: () => Promise<Readable>): Promise<void> {
    await this.service.pushBlob(this.repository, descriptor.digest, await open(), descriptor.size);
  }

  async putManifest(manifest: ManifestContent, reference: string | undefined): Promise<void> {
    const { digest } = await this.service.putManifest(
      this.repository,
      reference ?? manifest.digest,
      manifest.bytes,
      manifest.mediaType,
    );
    if (digest !== manifest.digest) throw new DigestMismatchError('stored manifest', manifest.digest, digest);
  }

  async commit(): Promise<void> {
    // Every write is committed by the service as it is made.
  }

  async close(): Promise<void> {
    // The service belongs to whoever opened it.
  }
}
