import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/manifest.ts';
import type { ManifestContent, RegistryClient } from './client/index.ts';
import type { ImageDestination, RegistryLocation } from './image-transport.ts';

/** A repository of a registry, written over the distribution API with the registry client. */
export class RegistryDestination implements ImageDestination {
  readonly description: string;

  constructor(
    private readonly client: RegistryClient,
    readonly repository: string,
  ) {
    this.description = `docker://${client.registry}/${repository}`;
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await this.client.headManifest(this.repository, digest)) !== undefined;
  }

  async resolveReference(reference: string): Promise<Digest | undefined> {
    return (await this.client.headManifest(this.repository, reference))?.digest;
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    return (await this.client.statBlob(this.repository, descriptor.digest)) !== undefined;
  }

  async mountBlob(descriptor: Descriptor, from: RegistryLocation | undefined): Promise<boolean> {
    if (from === undefined || from.registry !== this.client.registry || from.repository === this.repository)
      return false;
    return this.client.mountBlob(this.repository, descriptor.digest, from.repository);
  }

  async putBlob(descriptor: Descriptor, open: () => Promise<Readable>): Promise<void> {
    await this.client.pushBlob(this.repository, descriptor, await open());
  }

  async putManifest(manifest: ManifestContent, reference: string | undefined): Promise<void> {
    await this.client.putManifest(this.repository, reference ?? manifest.digest, manifest);
  }

  async commit(): Promise<void> {
    // Every write is visible as soon as the registry acknowledged it.
  }

  async close(): Promise<void> {
    // The client belongs to whoever made it.
  }
}
