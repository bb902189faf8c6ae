import { addAbortSignal, type Readable, Transform } from 'node:stream';
import type { Digest } from '../../oci/digest.ts';
import type { Descriptor } from '../../oci/manifest.ts';
import type { ManifestContent } from '../client/index.ts';
import type { ImageSource, RegistryLocation } from '../image-transport.ts';
import type { BandwidthLimiter } from './bandwidth-limiter.ts';

/**
 * An ImageSource whose bytes are counted, held to the execution's bandwidth limit and cut off when
 * the execution stops: the copy reads everything through its source, so this is where an
 * execution measures and paces a transfer, whichever the direction.
 */
export class MeteredSource implements ImageSource {
  readonly description: string;
  readonly location: RegistryLocation | undefined;

  constructor(
    private readonly inner: ImageSource,
    private readonly limiter: BandwidthLimiter,
    private readonly signal: AbortSignal,
    private readonly onBytes: (bytes: number) => void,
    /** Shared by the execution's sources. */
    private readonly referrersSeen: Map<string, Promise<Descriptor[]>> = new Map(),
  ) {
    this.description = inner.description;
    this.location = inner.location;
  }

  async getManifest(reference: string): Promise<ManifestContent> {
    this.signal.throwIfAborted();
    const manifest = await this.inner.getManifest(reference);
    this.onBytes(manifest.bytes.length);
    return manifest;
  }

  async openBlob(descriptor: Descriptor): Promise<Readable> {
    this.signal.throwIfAborted();
    const stream = await this.inner.openBlob(descriptor);
    const { limiter, signal, onBytes } = this;
    const metered = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        limiter.take(chunk.length, signal).then(
          () => {
            onBytes(chunk.length);
            done(null, chunk);
          },
          (error: unknown) => done(error as Error),
        );
      },
    });
    stream.on('error', (error) => metered.destroy(error));
    metered.on('close', () => {
      if (!stream.destroyed) stream.destroy();
    });
    return addAbortSignal(signal, stream.pipe(metered));
  }

  /** Asked once per subject and execution: many tags of one image must not each list its referrers again. */
  referrers(subject: Digest): Promise<Descriptor[]> {
    this.signal.throwIfAborted();
    const key = `${this.description}@${subject}`;
    let listed = this.referrersSeen.get(key);
    if (listed === undefined) {
      listed = this.inner.referrers(subject);
      listed.catch(() => this.referrersSeen.delete(key));
      this.referrersSeen.set(key, listed);
    }
    return listed;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
