import { parseDigest } from '../../oci/digest.ts';
import { isNotFound, type RegistryClient } from '../client/index.ts';
import type { ImageDestination, ImageSource } from '../image-transport.ts';
import { RegistryDestination } from '../registry-destination.ts';
import { RegistrySource } from '../registry-source.ts';
import type { DestinationSide, SourceSide } from './replication-sides.ts';

/** Entries asked for per catalog or tags page: large enough to be few requests, small enough to stream. */
const pageSize = 1000;

/** The remote registry of a policy, through the registry client. */
export class RemoteSide implements SourceSide, DestinationSide {
  readonly description: string;

  constructor(private readonly client: RegistryClient) {
    this.description = `docker://${client.registry}`;
  }

  repositories(signal: AbortSignal): AsyncIterable<string> {
    return this.client.repositories({ pageSize, signal });
  }

  async *tags(repository: string, signal: AbortSignal): AsyncIterable<string> {
    try {
      yield* this.client.tags(repository, { pageSize, signal });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async tagDigest(repository: string, tag: string, signal: AbortSignal): Promise<string | undefined> {
    return (await this.client.headManifest(repository, tag, { signal }))?.digest;
  }

  source(repository: string): ImageSource {
    return new RegistrySource(this.client, repository);
  }

  destination(repository: string): ImageDestination {
    return new RegistryDestination(this.client, repository);
  }

  async deleteManifest(repository: string, digest: string, signal: AbortSignal): Promise<boolean> {
    try {
      await this.client.deleteManifest(repository, parseDigest(digest), signal);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
