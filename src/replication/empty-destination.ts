import type { Digest } from '../oci/digest.ts';
import type { ImageDestination } from './image-transport.ts';
import { TransportError } from './transport-error.ts';

/**
 * A destination that does not exist yet (an archive a dry run would create): it holds nothing, so
 * a dry run reports everything as to be copied, and it refuses writes.
 */
export class EmptyDestination implements ImageDestination {
  constructor(readonly description: string) {}

  async hasManifest(): Promise<boolean> {
    return false;
  }

  async resolveReference(): Promise<Digest | undefined> {
    return undefined;
  }

  async hasBlob(): Promise<boolean> {
    return false;
  }

  async mountBlob(): Promise<boolean> {
    return false;
  }

  async putBlob(): Promise<void> {
    throw this.refusal();
  }

  async putManifest(): Promise<void> {
    throw this.refusal();
  }

  async commit(): Promise<void> {
    // nothing was written
  }

  async close(): Promise<void> {
    // nothing was opened
  }

  private refusal(): TransportError {
    return new TransportError('usage', `${this.description} is not written in a dry run`);
  }
}
