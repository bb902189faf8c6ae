import cliProgress from 'cli-progress';
import type { CopyEvent, CopyStats, ImageCopy } from '../replication/copy-events.ts';

/**
 * Shows a copy as it runs, on standard error: one progress bar per blob in flight on a terminal,
 * plain lines otherwise (CI logs, pipes). The summary goes to standard output.
 */
export class TransferProgress {
  private readonly bars: cliProgress.MultiBar | undefined;
  private readonly active = new Map<string, cliProgress.SingleBar>();

  constructor(
    private readonly output: NodeJS.WriteStream = process.stderr,
    private readonly dryRun = false,
  ) {
    if (output.isTTY) {
      this.bars = new cliProgress.MultiBar(
        {
          stream: output,
          format: ' {label} |{bar}| {percentage}% {done}/{size}',
          barsize: 30,
          hideCursor: true,
          clearOnComplete: true,
          autopadding: true,
          fps: 8,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  /** The listener to give the copy engine. */
  readonly onEvent = (event: CopyEvent): void => {
    switch (event.type) {
      case 'image-start':
        this.line(`${this.dryRun ? 'checking' : 'copying'} ${describeImage(event.image)}`);
        break;
      case 'image-done':
        this.line(
          `${this.dryRun ? 'checked' : 'copied'} ${describeImage(event.image)} ${event.digest}${event.note ? ` (${event.note})` : ''}`,
        );
        break;
      case 'image-failed':
        this.line(`failed ${describeImage(event.image)}: ${errorMessage(event.error)}`);
        break;
      case 'blob-start':
        if (this.bars) {
          const bar = this.bars.create(Math.max(event.size, 1), 0, {
            label: `${shortDigest(event.digest)} ${blobKind(event.mediaType)}`,
            done: formatBytes(0),
            size: formatBytes(event.size),
          });
          this.active.set(event.digest, bar);
        }
        break;
      case 'blob-progress':
        this.active.get(event.digest)?.update(event.transferred, { done: formatBytes(event.transferred) });
        break;
      case 'blob-retry':
        this.line(
          `retrying blob ${shortDigest(event.digest)} (attempt ${event.attempt + 1}): ${errorMessage(event.error)}`,
        );
        this.active.get(event.digest)?.update(0, { done: formatBytes(0) });
        break;
      case 'blob-done': {
        const bar = this.active.get(event.digest);
        if (bar) {
          this.active.delete(event.digest);
          this.bars?.remove(bar);
        }
        const verb = { copied: 'copied', skipped: 'exists', mounted: 'mounted', 'would-copy': 'would copy' }[
          event.outcome
        ];
        if (!this.bars || event.outcome !== 'skipped')
          this.line(`  blob ${event.digest} ${formatBytes(event.size)}: ${verb}`);
        break;
      }
      case 'manifest-done': {
        const verb = { copied: 'copied', skipped: 'exists', mounted: 'mounted', 'would-copy': 'would copy' }[
          event.outcome
        ];
        const name = event.reference === undefined ? '' : ` as ${event.reference}`;
        this.line(`  manifest ${event.digest}${name}: ${verb}`);
        break;
      }
    }
  };

  stop(): void {
    // The bars write logged lines only when they redraw: flush the last ones first.
    this.bars?.update();
    this.bars?.stop();
  }

  private line(text: string): void {
    if (this.bars === undefined) {
      this.output.write(`${text}\n`);
      return;
    }
    this.bars.log(`${text}\n`);
    // With no bar on screen nothing redraws, and the line would wait for the next blob.
    if (this.active.size === 0) this.bars.update();
  }
}

/** The closing lines of a run: what was copied, skipped and how fast. */
export function formatSummary(stats: CopyStats, elapsedMs: number, dryRun: boolean): string {
  const seconds = elapsedMs / 1000;
  const images = `${stats.images} ${stats.images === 1 ? 'image' : 'images'}`;
  const failed = stats.failedImages > 0 ? `, ${stats.failedImages} failed,` : '';
  const lines: string[] = [];
  if (dryRun) {
    lines.push(`dry run: ${images} checked${failed || ','} nothing written`);
    lines.push(
      `would copy ${stats.manifests['would-copy']} manifests and ${stats.blobs['would-copy']} blobs (${formatBytes(stats.bytesPlanned)}); ${stats.blobs.skipped} blobs and ${stats.manifests.skipped} manifests already there`,
    );
  } else {
    lines.push(`${images} copied${failed} in ${seconds.toFixed(1)} s`);
    lines.push(`manifests: ${stats.manifests.copied} copied, ${stats.manifests.skipped} already there`);
    lines.push(
      `blobs: ${stats.blobs.copied} copied (${formatBytes(stats.bytesCopied)}), ${stats.blobs.skipped} already there, ${stats.blobs.mounted} mounted (${formatBytes(stats.bytesSkipped)} not transferred)`,
    );
    if (seconds > 0 && stats.bytesCopied > 0) {
      lines.push(`throughput: ${formatBytes(stats.bytesCopied / seconds)}/s`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') return error.errors.map(errorMessage).join('; ');
  return error instanceof Error ? error.message : String(error);
}

function describeImage(image: ImageCopy): string {
  const source = `${image.source}${image.reference === '' ? '' : image.reference.includes(':') ? `@${image.reference}` : `:${image.reference}`}`;
  const target = `${image.destination}${image.destinationReference === undefined ? '' : `:${image.destinationReference}`}`;
  return `${source} → ${target}`;
}

function shortDigest(digest: string): string {
  return digest.slice(0, digest.indexOf(':') + 13);
}

function blobKind(mediaType: string): string {
  if (/config/.test(mediaType)) return 'config';
  if (/layer|rootfs/.test(mediaType)) return 'layer';
  return 'blob  ';
}
