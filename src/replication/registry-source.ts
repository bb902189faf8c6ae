import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/manifest.ts';
import type { ManifestContent, RegistryClient } from './client/index.ts';
import type { ImageSource, RegistryLocation } from './image-transport.ts';

/** A repository of a registry, read over the distribution API with the registry client. */
export class RegistrySource implements ImageSource {
  readonly description: string;
  readonly location: RegistryLocation;

  constructor(
    private readonly client: RegistryClient,
    readonly repository: string,
  ) {
    this.description = `docker://${client.registry}/${repository}`;
    this.location = { registry: client.registry, repository };
  }

  getManifest(reference: string): Promise<ManifestContent> {
    return this.client.getManifest(this.repository, reference);
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    return (await this.client.openBlob(this.repository, descriptor)).content;
  }

  async referrers(subject: Digest): Promise<Descriptor[]> {
    const found: Descriptor[] = [];
    for await (const descriptor of this.client.referrers(this.repository, subject)) found.push(descriptor);
    return found;
  }

  /** The repository's tags, page by page. */
  tags(pageSize = 1000): AsyncIterable<string> {
    return this.client.tags(this.repository, { pageSize });
  }

  async close(): Promise<void> {
    // The client belongs to whoever made it: several sources share one.
  }
}
