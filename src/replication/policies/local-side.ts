import { type Digest, parseDigest } from '../../oci/digest.ts';
import { isRegistryError } from '../../oci/errors.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import type { ImageDestination, ImageSource } from '../image-transport.ts';
import { ServiceDestination } from '../service-destination.ts';
import { ServiceSource } from '../service-source.ts';
import type { DestinationSide, SourceSide } from './replication-sides.ts';

/** Entries read per catalog or tags page. */
const pageSize = 1000;

/**
 * This registry, as a policy's source (push mode) or destination (pull mode): straight through the
 * RegistryService (the copy engine's ServiceSource and ServiceDestination), so what replication
 * writes passes the same checks and change listeners as a push over HTTP, and a blob the registry
 * holds in another repository is linked rather than transferred again.
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
    return new ServiceSource(this.registry, repository);
  }

  destination(repository: string): ImageDestination {
    return new ServiceDestination(this.registry, repository);
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

/** Every manifest type as stored: the bytes as they were pushed. */
const anyType = undefined;

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
