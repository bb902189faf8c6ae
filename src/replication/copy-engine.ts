import { type Readable, Transform } from 'node:stream';
import { type Digest, digestOf } from '../oci/digest.ts';
import { type Descriptor, type ParsedManifest, type Platform, parseManifest } from '../oci/manifest.ts';
import { indexManifestTypes } from '../oci/media-types.ts';
import {
  DigestMismatchError,
  isRetryable,
  type ManifestContent,
  retryDelayMs,
  retryPolicy,
  sleep,
} from './client/index.ts';
import { ConcurrencyLimit } from './concurrency-limit.ts';
import { type CopyEvent, type CopyOutcome, type CopyStats, emptyStats, type ImageCopy } from './copy-events.ts';
import type { ImageDestination, ImageSource } from './image-transport.ts';
import { formatPlatform, platformMatches, selectPlatforms } from './platform-filter.ts';
import { TransportError } from './transport-error.ts';

export interface CopyOptions {
  /** Copy only these platforms of a multi-platform index; all of them (the index as it is) when not given. */
  platforms?: readonly Platform[];
  /** Copy the manifests that refer to each copied one (signatures, SBOMs, attestations), recursively. Default true. */
  referrers?: boolean;
  /** Blob transfers at the same time. Default 4. */
  concurrency?: number;
  /** Look at both sides and report what would be copied, writing nothing. */
  dryRun?: boolean;
  /** Tries per blob when the transfer fails in a way that may pass (lost connection, 5xx). Default 3. */
  blobAttempts?: number;
  onEvent?: (event: CopyEvent) => void;
}

export interface CopyJob {
  source: ImageSource;
  /** A tag (ref name) or digest in the source. */
  reference: string;
  destination: ImageDestination;
  /** The tag (ref name) to give it at the destination; only its digest when undefined. */
  destinationReference: string | undefined;
}

export interface CopyResult {
  digest: Digest;
  /** Set when the platform filter changed what the reference names (one image, or a smaller index). */
  note?: string;
}

/** Blob types registries do not hold: they are fetched from their `urls` by whoever runs the image. */
const nonDistributable = /foreign|nondistributable/;

/**
 * Copies images between any source and destination: an image manifest with its config and layers,
 * or a whole index with every platform's image, and (by default) every manifest that refers to
 * them, recursively. Children are stored before their index and blobs before their manifest, so
 * the destination never holds a manifest pointing at something missing. What the destination has
 * is skipped (a manifest there already brings its whole tree), blobs on the same registry are
 * mounted, each blob is transferred once per destination even when several images share it, and
 * blob transfers run at most `concurrency` at a time. Every manifest and blob is verified against
 * its digest on the way. One engine serves a whole run and keeps its totals.
 */
export class CopyEngine {
  readonly stats: CopyStats = emptyStats();
  private readonly limit: ConcurrencyLimit;
  private readonly blobTransfers = new Map<string, Promise<void>>();
  private readonly options: Required<Omit<CopyOptions, 'platforms' | 'onEvent'>> & CopyOptions;

  constructor(options: CopyOptions = {}) {
    this.options = { referrers: true, concurrency: 4, dryRun: false, blobAttempts: 3, ...options };
    this.limit = new ConcurrencyLimit(this.options.concurrency);
  }

  /** Copies one image; failures are reported as an `image-failed` event and thrown. */
  async copy(job: CopyJob): Promise<CopyResult> {
    const image: ImageCopy = {
      source: job.source.description,
      reference: job.reference,
      destination: job.destination.description,
      destinationReference: job.destinationReference,
    };
    this.emit({ type: 'image-start', image });
    try {
      const fetched = await job.source.getManifest(job.reference);
      const { manifest, note } = await this.filterPlatforms(job.source, fetched, job.reference);
      const run = new ImageRun(this, job.source, job.destination);
      await run.copyManifest(manifest, job.destinationReference);
      this.stats.images += 1;
      this.emit({ type: 'image-done', image, digest: manifest.digest, ...(note ? { note } : {}) });
      return { digest: manifest.digest, ...(note ? { note } : {}) };
    } catch (error) {
      this.stats.failedImages += 1;
      this.emit({ type: 'image-failed', image, error });
      throw error;
    }
  }

  emit(event: CopyEvent): void {
    this.options.onEvent?.(event);
  }

  get dryRun(): boolean {
    return this.options.dryRun;
  }

  get copyReferrers(): boolean {
    return this.options.referrers;
  }

  recordManifest(outcome: CopyOutcome): void {
    this.stats.manifests[outcome] += 1;
  }

  /** Copies a blob once per destination for the whole run, however many manifests share it. */
  copyBlob(source: ImageSource, destination: ImageDestination, descriptor: Descriptor): Promise<void> {
    const key = `${destination.description}\n${descriptor.digest}`;
    let transfer = this.blobTransfers.get(key);
    if (transfer === undefined) {
      transfer = this.limit.run(() => this.transferBlob(source, destination, descriptor));
      // A failed transfer may be tried again by a later image of the run.
      transfer.catch(() => this.blobTransfers.delete(key));
      this.blobTransfers.set(key, transfer);
    }
    return transfer;
  }

  private async transferBlob(
    source: ImageSource,
    destination: ImageDestination,
    descriptor: Descriptor,
  ): Promise<void> {
    const { digest, size } = descriptor;
    const done = (outcome: CopyOutcome) => {
      this.stats.blobs[outcome] += 1;
      if (outcome === 'copied') this.stats.bytesCopied += size;
      else if (outcome === 'would-copy') this.stats.bytesPlanned += size;
      else this.stats.bytesSkipped += size;
      this.emit({ type: 'blob-done', digest, size, outcome });
    };
    if (await destination.hasBlob(descriptor)) return done('skipped');
    if (this.dryRun) return done('would-copy');
    if (await destination.mountBlob(descriptor, source.location)) return done('mounted');
    this.emit({ type: 'blob-start', digest, size, mediaType: descriptor.mediaType });
    const policy = retryPolicy({ attempts: this.options.blobAttempts });
    for (let attempt = 1; ; attempt += 1) {
      try {
        await destination.putBlob(descriptor, async () => this.counted(await source.openBlob(descriptor), descriptor));
        return done('copied');
      } catch (error) {
        if (!isRetryable(error) || attempt >= policy.attempts) throw error;
        this.emit({ type: 'blob-retry', digest, attempt, error });
        await sleep(retryDelayMs(attempt, policy));
      }
    }
  }

  private counted(stream: Readable, descriptor: Descriptor): Readable {
    let transferred = 0;
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding, next) => {
        transferred += chunk.length;
        this.emit({ type: 'blob-progress', digest: descriptor.digest, transferred, size: descriptor.size });
        next(null, chunk);
      },
    });
    stream.on('error', (error) => counter.destroy(error));
    counter.on('close', () => stream.destroy());
    return stream.pipe(counter);
  }

  /**
   * With a platform filter, an index becomes the one image that matches, or a smaller index of the
   * matching entries (a new digest); an image manifest is taken as it is.
   */
  private async filterPlatforms(
    source: ImageSource,
    manifest: ManifestContent,
    reference: string,
  ): Promise<{ manifest: ManifestContent; note?: string }> {
    const platforms = this.options.platforms;
    if (platforms === undefined || platforms.length === 0 || !indexManifestTypes.has(manifest.mediaType)) {
      return { manifest };
    }
    const parsed = parseManifest(manifest.bytes, manifest.mediaType);
    const kept = selectPlatforms(parsed.manifests, platforms);
    const images = kept.filter((entry) => platforms.some((wanted) => platformMatches(entry.platform, wanted)));
    if (images.length === 0) {
      const available = parsed.manifests.map((entry) => formatPlatform(entry.platform)).join(', ');
      throw new TransportError(
        'not-found',
        `${reference} has no image for ${platforms.map(formatPlatform).join(', ')} (it has ${available})`,
      );
    }
    if (images.length === 1) {
      // One platform: its image alone, as \`docker pull --platform\` would get it.
      const only = images[0] as Descriptor;
      const child = await fetchChild(source, only);
      return { manifest: child, note: `only ${formatPlatform(only.platform)}: ${child.digest}` };
    }
    const json = JSON.parse(manifest.bytes.toString('utf8')) as Record<string, unknown>;
    const keptDigests = new Set(kept.map((entry) => entry.digest as string));
    const entries = (json.manifests as { digest: string }[]).filter((entry) => keptDigests.has(entry.digest));
    const bytes = Buffer.from(JSON.stringify({ ...json, manifests: entries }));
    return {
      manifest: { bytes, mediaType: manifest.mediaType, digest: digestOf(bytes) },
      note: `index reduced to ${kept.map((entry) => formatPlatform(entry.platform)).join(', ')}`,
    };
  }
}

/** The manifests of one image copy, each visited once. */
class ImageRun {
  private readonly visited = new Map<string, Promise<void>>();

  constructor(
    private readonly engine: CopyEngine,
    private readonly source: ImageSource,
    private readonly destination: ImageDestination,
  ) {}

  async copyManifest(manifest: ManifestContent, reference: string | undefined): Promise<void> {
    const parsed = parseManifest(manifest.bytes, manifest.mediaType);
    const present = await this.destination.hasManifest(manifest.digest);
    if (!present) {
      await this.copyContent(parsed);
    } else if (this.engine.copyReferrers) {
      // The tree is there; only referrers added since may be missing.
      await settled(parsed.manifests.map((child) => this.visit(child)));
    }
    await this.store(manifest, reference, present);
    if (this.engine.copyReferrers) {
      const referrers = await this.source.referrers(manifest.digest);
      await settled(referrers.map((referrer) => this.visit(referrer)));
    }
  }

  private async copyContent(parsed: ParsedManifest): Promise<void> {
    await settled([
      ...parsed.manifests.map((child) => this.visit(child)),
      ...parsed.blobs
        .filter((blob) => !nonDistributable.test(blob.mediaType))
        .map((blob) => this.engine.copyBlob(this.source, this.destination, blob)),
    ]);
  }

  /** A manifest named by a descriptor (an index entry, a referrer), copied by digest once per image. */
  private visit(descriptor: Descriptor): Promise<void> {
    let visit = this.visited.get(descriptor.digest);
    if (visit === undefined) {
      visit = fetchChild(this.source, descriptor).then((child) => this.copyManifest(child, undefined));
      this.visited.set(descriptor.digest, visit);
    }
    return visit;
  }

  private async store(manifest: ManifestContent, reference: string | undefined, present: boolean): Promise<void> {
    const engine = this.engine;
    const report = (outcome: CopyOutcome) => {
      engine.recordManifest(outcome);
      engine.emit({
        type: 'manifest-done',
        digest: manifest.digest,
        mediaType: manifest.mediaType,
        reference,
        outcome,
      });
    };
    const retag = reference !== undefined && (await this.destination.resolveReference(reference)) !== manifest.digest;
    if (present && !retag) return report('skipped');
    if (engine.dryRun) return report('would-copy');
    await this.destination.putManifest(manifest, reference);
    report(present ? 'skipped' : 'copied');
  }
}

/** A manifest an index or referrers list names, checked against the descriptor's digest and size. */
async function fetchChild(source: ImageSource, descriptor: Descriptor): Promise<ManifestContent> {
  const child = await source.getManifest(descriptor.digest);
  if (child.bytes.length !== descriptor.size) {
    throw new DigestMismatchError(
      `manifest ${descriptor.digest} length`,
      `${descriptor.size} bytes`,
      `${child.bytes.length} bytes`,
    );
  }
  return child;
}

/**
 * Waits for every task, then throws the first failure: a copy that fails returns only once nothing
 * of it is still writing, so the caller may close or clean up the destination safely.
 */
async function settled(tasks: readonly Promise<unknown>[]): Promise<void> {
  const outcomes = await Promise.allSettled(tasks);
  const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failure) throw failure.reason;
}
