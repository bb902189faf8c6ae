import { randomUUID } from 'node:crypto';
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { connectRedis, type RedisConnection } from '../cache/redis-connection.ts';
import { composeRegistryCore } from '../composition/registry-core.ts';
import { openStorage } from '../composition/storage.ts';
import { parseGoDuration } from '../config/duration.ts';
import { LocalJobLocks } from '../coordination/job-lock.ts';
import {
  collectOffline,
  type OfflineCollectionReport,
  type OfflinePhase,
  type ProgressSink,
} from '../gc/offline-collection.ts';
import { describeDatabase } from '../metadata/open-database.ts';
import { createLogger } from '../observability/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import { runWithRequestContext } from '../observability/request-context.ts';
import { exitOnConfigError, loadConfigOrExit } from './load-config-or-exit.ts';
import { version } from './version.ts';

interface GcCommandOptions {
  config?: string;
  dryRun: boolean;
  deleteUntagged: boolean;
  uploadGrace: number;
  orphanAge: number;
}

const help = `
What it removes:
  - blobs that no manifest references (layers of deleted images, uploads never used), except those
    uploaded or mounted within --upload-grace, whose manifest may still be on its way;
  - with --delete-untagged, manifests that no tag reaches (directly, through an index, or as a
    signature or SBOM of an image that is reached), then the blobs only they referenced;
  - blob files in storage that the database does not know (left by a crash, or by restoring an
    older database backup), once they are older than --orphan-age.

It is safe to run while registries serve the same database and storage: each blob is locked and
re-checked before its bytes go, and a push that references it meanwhile keeps it or is refused
with an error the client retries. The online collector (gc.enabled) does the same continuously.

Examples:
  wharf gc --dry-run
  wharf gc --delete-untagged
  wharf gc -c /etc/wharf/config.yml --upload-grace 24h

See docs/garbage-collection.md.`;

/** `wharf gc`: mark from the database, sweep storage, now. */
export function gcCommand(): Command {
  return new Command('gc')
    .description('collect garbage now: unreferenced blobs, untagged manifests, orphaned blob files')
    .option('-c, --config <file>', 'YAML config file, as for `wharf serve`')
    .option('-n, --dry-run', 'report what would be deleted and how many bytes, delete nothing', false)
    .option('--delete-untagged', 'also delete manifests that no tag reaches', false)
    .addOption(
      new Option('--upload-grace <duration>', 'keep blobs uploaded or mounted within this time')
        .argParser(parseDuration)
        .default(3_600_000, '1h'),
    )
    .addOption(
      new Option('--orphan-age <duration>', 'remove unknown blob files only once this old')
        .argParser(parseDuration)
        .default(3_600_000, '1h'),
    )
    .addHelpText('after', help)
    .action(async (options: GcCommandOptions) => {
      const { config } = await loadConfigOrExit(options.config);
      const logger = createLogger({ ...config.log, level: 'warn' }, process.stderr);
      let exitCode = 0;
      let redis: RedisConnection | undefined;
      try {
        const storage = await openStorage(config, logger);
        redis = config.redis ? await connectRedis(config.redis, logger) : undefined;
        // The servers' own write path: every listener (quotas, events, the audit log) sees what is
        // deleted, and the shared metadata cache forgets it, so servers stop announcing it at once.
        const core = await composeRegistryCore(config, {
          storage,
          logger,
          metrics: createMetrics(),
          redis,
          locks: () => new LocalJobLocks(),
          version,
          collectGarbage: false,
        });
        try {
          process.stderr.write(
            `${options.dryRun ? 'dry run: ' : ''}collecting garbage in ${describeDatabase(config.database)}\n`,
          );
          const context = { requestId: randomUUID(), sourceAddress: undefined, userAgent: undefined };
          const started = performance.now();
          const report = await runWithRequestContext({ ...context, actor: { name: 'wharf gc', kind: 'system' } }, () =>
            collectOffline(
              core.cachedMetadata,
              storage,
              {
                dryRun: options.dryRun,
                deleteUntagged: options.deleteUntagged,
                uploadGraceMs: options.uploadGrace,
                orphanAgeMs: options.orphanAge,
              },
              progressSink(process.stderr),
            ),
          );
          process.stdout.write(summary(report, (performance.now() - started) / 1000));
          if (report.blobs.failed + report.orphans.failed > 0) exitCode = 1;
        } finally {
          await core.lifecycle.close();
          await core.events.close();
          await core.gc.stop();
          await core.metadata.close();
        }
      } catch (error) {
        exitOnConfigError(error);
        process.stderr.write(`wharf: ${error instanceof Error ? error.message : String(error)}\n`);
        exitCode = 1;
      } finally {
        await redis?.close();
      }
      process.exitCode = exitCode;
    });
}

function parseDuration(value: string): number {
  const milliseconds = parseGoDuration(value);
  if (milliseconds === undefined || milliseconds < 0) {
    throw new InvalidArgumentError('expected a duration such as "30m", "1h" or "24h"');
  }
  return milliseconds;
}

const phaseLabels: Record<OfflinePhase, string> = {
  manifests: 'untagged manifests',
  blobs: 'unreferenced blobs',
  orphans: 'blob files in storage',
};

/** A cli-progress bar on a terminal; on anything else, one line per phase and one every 10,000 items. */
function progressSink(output: NodeJS.WriteStream): ProgressSink {
  let bar: cliProgress.SingleBar | undefined;
  let phase: OfflinePhase = 'blobs';
  let done = 0;
  let nextLine = 10_000;
  return {
    start(next, total) {
      phase = next;
      done = 0;
      nextLine = 10_000;
      if (output.isTTY) {
        bar = new cliProgress.SingleBar(
          {
            stream: output,
            format:
              total === undefined
                ? ` ${phaseLabels[next].padEnd(22)} {value} checked`
                : ` ${phaseLabels[next].padEnd(22)} |{bar}| {value}/{total}`,
            barsize: 30,
            hideCursor: true,
            fps: 8,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total ?? 0, 0);
      } else {
        output.write(`${phaseLabels[next]}: ${total === undefined ? 'listing storage' : `${total} to check`}\n`);
      }
    },
    advance(count) {
      done += count;
      if (bar) bar.update(done);
      else if (done >= nextLine) {
        output.write(`${phaseLabels[phase]}: ${done} checked\n`);
        nextLine += 10_000;
      }
    },
    finish() {
      if (bar) {
        bar.stop();
        bar = undefined;
      } else {
        output.write(`${phaseLabels[phase]}: done, ${done} checked\n`);
      }
    },
  };
}

function summary(report: OfflineCollectionReport, seconds: number): string {
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const lines = [
    `${report.dryRun ? 'Dry run' : 'Garbage collection'} finished in ${seconds.toFixed(1)} s:`,
    `  ${verb} ${report.manifests.deleted} untagged ${plural(report.manifests.deleted, 'manifest')}`,
    `  ${verb} ${report.blobs.deleted} unreferenced ${plural(report.blobs.deleted, 'blob')} (${formatBytes(report.blobs.bytes)}); kept ${report.blobs.keptRecent} uploaded within the grace period`,
    `  ${verb} ${report.orphans.deleted} orphaned blob ${plural(report.orphans.deleted, 'file')} (${formatBytes(report.orphans.bytes)}); kept ${report.orphans.tooRecent} too recent to judge`,
    `  ${verb} ${formatBytes(report.blobs.bytes + report.orphans.bytes)} in total`,
  ];
  const failed = report.blobs.failed + report.orphans.failed;
  if (failed > 0) lines.push(`  ${failed} ${plural(failed, 'blob')} could not be deleted from storage; run again`);
  return `${lines.join('\n')}\n`;
}

function plural(count: number, word: string): string {
  return count === 1 ? word : `${word}s`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
