import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { Logger } from '../../observability/logger.ts';
import type { Digest } from '../../oci/digest.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import type { ProxyMetrics } from './proxy-metrics.ts';
import type { ProxyTarget } from './proxy-target.ts';
import { SpoolFile } from './spool-file.ts';
import { classify } from './upstream.ts';

/** A blob on its way from the upstream: readable from the spool while it is stored. */
export interface BlobInFlight {
  size: number;
  /** Bytes `start`..`end` (inclusive) as they arrive. */
  read(start?: number, end?: number): Readable;
}

interface Fetch {
  /** Undefined when the blob turned out to be in the registry already and was linked. */
  spool: SpoolFile | undefined;
  size: number;
  /** Resolves once the blob is stored; rejects when it could not be downloaded or stored. */
  stored: Promise<void>;
}

/**
 * Blobs of proxied repositories fetched on a miss. The first miss for a blob starts one upstream
 * download; its bytes go at once to a spool file, which every puller of that blob reads from as
 * they arrive, and into the registry through RegistryService (which verifies the digest before the
 * blob becomes visible). Later misses for the same blob in this process join the download in
 * flight; once stored, pulls are served from the registry.
 */
export class BlobCache {
  private readonly inFlight = new Map<string, Promise<Fetch>>();

  constructor(
    private readonly registry: RegistryService,
    private readonly options: { spoolDirectory: string; logger: Logger; metrics: ProxyMetrics },
  ) {}

  /** The blob's size: the one being fetched, else the upstream's. Throws UpstreamError. */
  async statRemote(target: ProxyTarget, digest: Digest): Promise<number | undefined> {
    const fetching = this.inFlight.get(keyOf(target, digest));
    if (fetching) return (await fetching).size;
    return target.upstream.statBlob(target.remoteName, digest);
  }

  /**
   * The blob from the upstream, for a puller: undefined when it is (now) in the registry, else a
   * reader of the download in flight. Throws UpstreamError when it cannot be fetched.
   */
  async open(target: ProxyTarget, digest: Digest): Promise<BlobInFlight | undefined> {
    const fetch = await this.begin(target, digest);
    const spool = fetch.spool;
    if (!spool) return undefined;
    return { size: fetch.size, read: (start, end) => spool.reader(start, end) };
  }

  /** Resolves once the registry holds the blob in the target's repository, fetching it if needed. */
  async ensure(target: ProxyTarget, digest: Digest): Promise<void> {
    if (await this.held(target, digest)) return;
    await (await this.begin(target, digest)).stored;
  }

  private begin(target: ProxyTarget, digest: Digest): Promise<Fetch> {
    const key = keyOf(target, digest);
    const existing = this.inFlight.get(key);
    if (existing) return existing;
    const started = this.fetch(target, digest);
    this.inFlight.set(key, started);
    const forget = () => {
      if (this.inFlight.get(key) === started) this.inFlight.delete(key);
    };
    started.then((fetch) => {
      const release = () => {
        forget();
        fetch.spool?.close();
      };
      fetch.stored.then(release, release);
    }, forget);
    return started;
  }

  private async fetch(target: ProxyTarget, digest: Digest): Promise<Fetch> {
    const { upstream, remoteName, localName } = target;
    // Bytes the registry already holds for another repository are linked, once the upstream
    // confirms that this repository has them too (holding a digest is no right to read it).
    const linked = await this.registry
      .mountBlob(localName, digest, undefined, async () => (await upstream.statBlob(remoteName, digest)) !== undefined)
      .catch(() => undefined);
    if (linked !== undefined) {
      this.options.metrics.blob('linked');
      return { spool: undefined, size: linked, stored: Promise.resolve() };
    }
    let download: { size: number; content: Readable };
    try {
      download = await upstream.openBlob(remoteName, digest);
    } catch (error) {
      throw classify(error);
    }
    this.options.metrics.blob('fetched');
    let spool: SpoolFile;
    try {
      spool = await SpoolFile.create(this.options.spoolDirectory, download.size);
    } catch (error) {
      download.content.destroy();
      throw error;
    }
    const storeInput = new PassThrough({ highWaterMark: 1024 * 1024 });
    const storing = this.registry.pushBlob(localName, digest, storeInput, download.size).then(
      () => true,
      (error: unknown) => {
        // Nobody reads the store's input any more: the download goes on for the spool alone.
        storeInput.destroy();
        this.options.logger.warn(
          { err: error, repository: localName, digest, upstream: upstream.url },
          'a proxied blob was served but could not be stored in the cache',
        );
        return false;
      },
    );
    const pumped = pump(download.content, spool, storeInput, (bytes) => this.options.metrics.upstreamBytes(bytes)).then(
      () => true,
      (error: unknown) => {
        this.options.logger.warn(
          { err: error, repository: localName, digest, upstream: upstream.url },
          'the upstream download of a proxied blob failed',
        );
        return false;
      },
    );
    const stored = Promise.all([pumped, storing]).then(([downloaded, kept]) => {
      if (!downloaded || !kept) throw new Error(`blob ${digest} could not be fetched into the cache`);
    });
    return { spool, size: download.size, stored };
  }

  private async held(target: ProxyTarget, digest: Digest): Promise<boolean> {
    try {
      await this.registry.statBlob(target.localName, digest);
      return true;
    } catch {
      return false;
    }
  }
}

function keyOf(target: ProxyTarget, digest: Digest): string {
  return `${target.localName}@${digest}`;
}

/**
 * Copies the download into the spool and the store. The store may fail or lag (backpressure
 * slows the download, as it would for a push); once it failed, the spool alone is fed.
 */
async function pump(
  source: Readable,
  spool: SpoolFile,
  store: PassThrough,
  counted: (bytes: number) => void,
): Promise<void> {
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      await spool.append(chunk);
      counted(chunk.length);
      if (!store.destroyed && !store.write(chunk)) await drained(store);
    }
    spool.complete();
    if (!store.destroyed) store.end();
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    spool.fail(failure);
    store.destroy(failure);
    throw failure;
  }
}

function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
