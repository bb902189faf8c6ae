import { isDigest } from '../oci/digest.ts';
import { bundleRefName } from './bundle-ref-name.ts';
import type { ImageDestination } from './image-transport.ts';
import type { SyncItem } from './sync-items.ts';
import { TransportError } from './transport-error.ts';

/** Where each image of a sync goes, and under what name. */
export interface SyncTarget {
  destinationFor(item: SyncItem): Promise<{ destination: ImageDestination; reference: string | undefined }>;
  commit(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A registry (over HTTP or the local RegistryService): an image of repository `team/app` goes to
 * `PREFIX/team/app` (just `team/app` without a prefix) under its tag, or only by digest. An image
 * named by a bare tag goes to PREFIX itself.
 */
export class RepositoryTarget implements SyncTarget {
  private readonly destinations = new Map<string, Promise<ImageDestination>>();

  constructor(
    private readonly prefix: string,
    private readonly open: (repository: string) => Promise<ImageDestination>,
  ) {}

  async destinationFor(item: SyncItem): Promise<{ destination: ImageDestination; reference: string | undefined }> {
    const repository = [this.prefix, item.repository].filter((part) => part !== undefined && part !== '').join('/');
    if (repository === '') {
      throw new TransportError(
        'usage',
        `"${item.reference}" names no repository: give the destination one (docker://REGISTRY/REPOSITORY)`,
      );
    }
    let destination = this.destinations.get(repository);
    if (destination === undefined) {
      destination = this.open(repository);
      this.destinations.set(repository, destination);
    }
    return { destination: await destination, reference: isDigest(item.tagOrDigest) ? undefined : item.tagOrDigest };
  }

  async commit(): Promise<void> {
    for (const destination of this.destinations.values()) await (await destination).commit();
  }

  async close(): Promise<void> {
    for (const destination of this.destinations.values()) await (await destination.catch(() => undefined))?.close();
  }
}

/**
 * One layout or archive holding every image, each named `repository:tag` (or `repository@digest`)
 * in index.json, so that importing it again, or `skopeo copy oci-archive:FILE:team/app:v1`, finds it.
 */
export class LayoutTarget implements SyncTarget {
  constructor(private readonly destination: ImageDestination) {}

  async destinationFor(item: SyncItem): Promise<{ destination: ImageDestination; reference: string | undefined }> {
    const reference =
      item.repository === undefined ? item.tagOrDigest : bundleRefName(item.repository, item.tagOrDigest);
    return { destination: this.destination, reference };
  }

  commit(): Promise<void> {
    return this.destination.commit();
  }

  close(): Promise<void> {
    return this.destination.close();
  }
}
