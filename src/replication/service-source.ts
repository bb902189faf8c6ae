import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/manifest.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import { type ManifestContent, manifestMediaType, verifiedManifestDigest } from './client/index.ts';
import type { ImageSource } from './image-transport.ts';
import { verifyingStream } from './verifying-stream.ts';

const pageSize = 1000;

/**
 * A repository of this registry read through RegistryService, without HTTP: what `wharf export
 * --config` reads from the registry's own storage and database.
 */
export class ServiceSource implements ImageSource {
  readonly description: string;

  constructor(
    private readonly service: RegistryService,
    readonly repository: string,
  ) {
    this.description = `registry:${repository}`;
  }

  async getManifest(reference: string): Promise<ManifestContent> {
    const stored = await this.service.getManifest(this.repository, reference, undefined);
    const digest = verifiedManifestDigest(stored.payload, stored.digest, undefined);
    return { bytes: stored.payload, digest, mediaType: manifestMediaType(stored.mediaType, stored.payload) };
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    const { stream } = await this.service.openBlob(this.repository, descriptor.digest);
    const verifier = verifyingStream(descriptor);
    stream.on('error', (error) => verifier.destroy(error));
    verifier.on('close', () => stream.destroy());
    return stream.pipe(verifier);
  }

  async referrers(subject: Digest): Promise<Descriptor[]> {
    const found: Descriptor[] = [];
    let after: string | undefined;
    do {
      const page = await this.service.listReferrers(this.repository, subject, undefined, { limit: 100, after });
      found.push(...page.manifests);
      after = page.next;
    } while (after !== undefined);
    return found;
  }

  /** The repository's tags, a page at a time. */
  async *tags(): AsyncGenerator<string> {
    let after: string | undefined;
    while (true) {
      const page = await this.service.listTags(this.repository, { limit: pageSize, after });
      yield* page;
      if (page.length < pageSize) return;
      after = page.at(-1);
    }
  }

  async close(): Promise<void> {
    // The service belongs to whoever opened it.
  }
}
