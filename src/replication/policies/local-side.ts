import type { Readable } from 'node:stream';
import { type Digest, parseDigest } from '../../oci/digest.ts';
import { isRegistryError } from '../../oci/errors.ts';
import type { Descriptor } from '../../oci/manifest.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import type { ManifestContent } from '../client/index.ts';
import type { ImageDestination, ImageSource, RegistryLocation } from '../image-transport.ts';
import type { DestinationSide, SourceSide } from './replication-sides.ts';

/** Entries read per catalog or tags page. */
const pageSize = 1000;

/**
 * This registry, as a policy's source (push mode) or destination (pull mode): straight through the
 * RegistryService, so what replication writes passes the same checks (and change listeners) as a
 * push over HTTP.
 */
export class LocalSide implements SourceSide, DestinationSide {
  readonly description = 'local';

  constructor(private readonly registry: RegistryService) {}

  async *repositories(signal: AbortSignal): AsyncIterable<string> {
    let after: string | undefined;
    for (;;) {
      signal.throwIfAborted();
      const page = await this.registry.listRepositories({ limit: pageSize, after });
      yield* page;
      if (page.length < pageSize) return;
      after = page.at(-1);
    }
  }

  async *tags(repository: string, signal: AbortSignal): AsyncIterable<string> {
    let after: string | undefined;
    for (;;) {
      signal.throwIfAborted();
      let page: string[];
      try {
        page = await this.registry.listTags(repository, { limit: pageSize, after });
      } catch (error) {
        if (isRegistryError(error) && error.code === 'NAME_UNKNOWN') return;
        throw error;
      }
      yield* page;
      if (page.length < pageSize) return;
      after = page.at(-1);
    }
  }

  async tagDigest(repository: string, tag: string): Promise<string | undefined> {
    return resolve(this.registry, repository, tag);
  }

  source(repository: string): ImageSource {
    return new LocalImageSource(this.registry, repository);
  }

  destination(repository: string): ImageDestination {
    return new LocalImageDestination(this.registry, repository);
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    try {
      await this.registry.deleteManifest(repository, digest);
      return true;
    } catch (error) {
      if (isRegistryError(error) && error.code === 'MANIFEST_UNKNOWN') return false;
      throw error;
    }
  }

  async close(): Promise<void> {}
}

/** Every manifest type as stored: the local side serves the bytes as they were pushed. */
const anyType = undefined;

class LocalImageSource implements ImageSource {
  readonly description: string;
  readonly location: RegistryLocation;

  constructor(
    private readonly registry: RegistryService,
    private readonly repository: string,
  ) {
    this.description = `local/${repository}`;
    this.location = { registry: localRegistry, repository };
  }

  async getManifest(reference: string): Promise<ManifestContent> {
    const manifest = await this.registry.getManifest(this.repository, reference, anyType);
    return { bytes: manifest.payload, mediaType: manifest.mediaType, digest: parseDigest(manifest.digest) };
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    return (await this.registry.openBlob(this.repository, descriptor.digest)).stream;
  }

  async referrers(subject: Digest): Promise<Descriptor[]> {
    const found: Descriptor[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.registry.listReferrers(this.repository, subject, undefined, { limit: pageSize, after });
      found.push(...page.manifests);
      if (page.next === undefined) return found;
      after = page.next;
    }
  }

  async close(): Promise<void> {}
}

/** The name a local source gives its registry, so a local destination knows it may link its blobs. */
const localRegistry = 'local';

class LocalImageDestination implements ImageDestination {
  readonly description: string;

  constructor(
    private readonly registry: RegistryService,
    private readonly repository: string,
  ) {
    this.description = `local/${repository}`;
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await resolve(this.registry, this.repository, digest)) !== undefined;
  }

  resolveReference(reference: string): Promise<Digest | undefined> {
    return resolve(this.registry, this.repository, reference);
  }

  /** A blob the registry holds in another repository is linked here rather than transferred again. */
  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    try {
      await this.registry.statBlob(this.repository, descriptor.digest);
      return true;
    } catch (error) {
      if (!isRegistryError(error) || error.code !== 'BLOB_UNKNOWN') throw error;
    }
    return (await this.registry.mountBlob(this.repository, descriptor.digest, undefined)) !== undefined;
  }

  async mountBlob(descriptor: Descriptor, from: RegistryLocation): Promise<boolean> {
    if (from.registry !== localRegistry) return false;
    return (await this.registry.mountBlob(this.repository, descriptor.digest, from.repository)) !== undefined;
  }

  async putBlob(descriptor: Descriptor, open: () => Promise<Readable>): Promise<void> {
    await this.registry.pushBlob(this.repository, descriptor.digest, await open(), descriptor.size);
  }

  async putManifest(manifest: ManifestContent, reference: string | undefined): Promise<void> {
    await this.registry.putManifest(this.repository, reference ?? manifest.digest, manifest.bytes, manifest.mediaType);
  }

  async commit(): Promise<void> {}

  async close(): Promise<void> {}
}

async function resolve(registry: RegistryService, repository: string, reference: string): Promise<Digest | undefined> {
  try {
    return parseDigest((await registry.statManifest(repository, reference, anyType)).digest);
  } catch (error) {
    if (isRegistryError(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NAME_UNKNOWN')) {
      return undefined;
    }
    throw error;
  }
}
