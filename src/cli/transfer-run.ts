import type { Command } from 'commander';
import { isDigest } from '../oci/digest.ts';
import type { Platform } from '../oci/manifest.ts';
import { isTag } from '../oci/reference.ts';
import { bundleRefName, parseBundleRefName } from '../replication/bundle-ref-name.ts';
import { CopyEngine, type CopyOptions } from '../replication/copy-engine.ts';
import { forEachConcurrent } from '../replication/for-each-concurrent.ts';
import { parsePlatform } from '../replication/platform-filter.ts';
import type { SyncItem } from '../replication/sync-items.ts';
import type { SyncTarget } from '../replication/sync-target.ts';
import { TransportError } from '../replication/transport-error.ts';
import { parsePositiveInteger } from './registry-access.ts';
import { errorMessage, formatSummary, TransferProgress } from './transfer-progress.ts';

/** The copy flags shared by copy, sync, export and import. */
export interface CopyFlags {
  all?: boolean;
  platform?: string[];
  referrers: boolean;
  concurrency: number;
  dryRun?: boolean;
}

export function addCopyOptions(command: Command, options: { dryRun?: boolean } = {}): Command {
  command
    .option('--all', 'copy every platform of a multi-platform index, the index as it is (the default)')
    .option(
      '--platform <os/arch[/variant]>',
      'copy only this platform of an index (repeatable): one platform gives its image alone, several a reduced index',
      collect,
    )
    .option('--no-referrers', 'leave out the signatures, SBOMs and other artifacts that refer to the images')
    .option('--concurrency <n>', 'blob transfers at the same time', parsePositiveInteger, 4);
  if (options.dryRun !== false) {
    command.option('--dry-run', 'show what would be copied and skipped, writing nothing');
  }
  return command;
}

/** The engine's options from the flags; `--all` with `--platform` is a usage error. */
export function copyOptionsOf(flags: CopyFlags): CopyOptions & { dryRun: boolean } {
  if (flags.all && flags.platform !== undefined) {
    throw new TransportError('usage', '--all and --platform cannot be combined');
  }
  const platforms: Platform[] | undefined = flags.platform?.map(parsePlatform);
  return {
    ...(platforms === undefined ? {} : { platforms }),
    referrers: flags.referrers,
    concurrency: flags.concurrency,
    dryRun: flags.dryRun === true,
  };
}

/** An engine with its progress display, the start time, and the failures collected for the summary. */
export class TransferRun {
  readonly engine: CopyEngine;
  readonly progress: TransferProgress;
  readonly failures: { what: string; error: unknown }[] = [];
  private readonly started = Date.now();

  constructor(readonly options: CopyOptions & { dryRun: boolean }) {
    this.progress = new TransferProgress(process.stderr, options.dryRun);
    this.engine = new CopyEngine({ ...options, onEvent: this.progress.onEvent });
  }

  /** Runs one copy, recording a failure instead of stopping the run. */
  async attempt(what: string, work: () => Promise<unknown>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (error) {
      this.failures.push({ what, error });
      return false;
    }
  }

  /**
   * Copies every item to where the target puts it, `concurrency` images at a time; a failed image
   * is recorded and the others go on. The target is committed unless this is a dry run, or
   * something failed and `commitPartial` is false (an archive missing images is not written).
   */
  async copyAll(items: AsyncIterable<SyncItem>, target: SyncTarget, commitPartial: boolean): Promise<void> {
    const limit = this.options.concurrency ?? 4;
    try {
      await forEachConcurrent(items, limit, async (item) => {
        await this.attempt(describeItem(item), async () => {
          const { destination, reference } = await target.destinationFor(item);
          await this.engine.copy({
            source: item.source,
            reference: item.reference,
            destination,
            destinationReference: reference,
          });
        });
      });
    } catch (error) {
      this.failures.push({ what: 'listing the images', error });
    }
    if (!this.options.dryRun && (commitPartial || this.failures.length === 0)) {
      await this.attempt('finishing the destination', () => target.commit());
    }
  }

  /** Stops the display, prints the summary, and sets the exit status (1 when anything failed). */
  finish(): void {
    this.progress.stop();
    process.stdout.write(formatSummary(this.engine.stats, Date.now() - this.started, this.options.dryRun));
    for (const failure of this.failures) {
      process.stderr.write(`wharf: ${failure.what}: ${errorMessage(failure.error)}\n`);
    }
    if (this.failures.length > 0) process.exitCode = 1;
  }
}

function describeItem(item: SyncItem): string {
  const name = item.repository === undefined ? item.reference : bundleRefName(item.repository, item.tagOrDigest);
  return `${item.source.description} ${name}`;
}

/** The tag a source reference carries, to name the copy by when the destination names none. */
export function tagOf(reference: string): string | undefined {
  if (reference === '' || isDigest(reference)) return undefined;
  if (isTag(reference)) return reference;
  const bundle = parseBundleRefName(reference);
  return bundle && isTag(bundle.reference) ? bundle.reference : undefined;
}

/**
 * Runs a command body: a usage error (a bad reference or flag) is one line and exit status 2,
 * any other failure one line and exit status 1.
 */
export async function runCommand(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    process.stderr.write(`wharf: ${errorMessage(error)}\n`);
    process.exitCode = error instanceof TransportError && error.kind === 'usage' ? 2 : 1;
  }
}

/** commander's accumulator for a repeatable option. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
