import { resolve } from 'node:path';
import { Command } from 'commander';
import { runBackup } from '../backup/run-backup.ts';
import { verifyBackup } from '../backup/verify-backup.ts';
import { openStorage } from '../composition/storage.ts';
import { describeDatabase } from '../metadata/open-database.ts';
import { createLogger } from '../observability/logger.ts';
import { ByteProgress } from './byte-progress.ts';
import { loadConfigOrExit } from './load-config-or-exit.ts';
import { errorMessage, formatBytes } from './transfer-progress.ts';

const help = `
A backup directory holds the metadata snapshot (metadata.db, users, projects, policies, audit log,
repositories, manifests, tags), every blob the snapshot describes (blobs/sha256/<hex>) and
backup.json, written last. Run it while the registry serves: the snapshot is taken first, and
blobs pushed after it belong to the next backup. Run it again into the same directory to
refresh it: only blobs the directory lacks are copied, and an interrupted run resumes.

Examples:
  wharf backup --to /backups/wharf
  wharf backup --to /backups/wharf --dry-run
  wharf backup verify /backups/wharf

See docs/backup.md.`;

/** `wharf backup`: a consistent, incremental backup of the registry the config describes. */
export function backupCommand(): Command {
  const backup = new Command('backup')
    .description('back up the metadata and blobs into a directory, incrementally; `backup verify DIR` checks one')
    .option('--to <dir>', 'the backup directory (created if needed; reused by later runs)')
    .option('-c, --config <file>', 'YAML config file, as for `wharf serve`')
    .option('-n, --dry-run', 'take the snapshot and report what would be copied; write nothing', false)
    .addHelpText('after', help)
    .action(async (options: { to?: string; config?: string; dryRun: boolean }) => {
      if (options.to === undefined) {
        process.stderr.write('wharf: backup needs --to DIR\n');
        process.exitCode = 2;
        return;
      }
      const dir = resolve(options.to);
      const { config } = await loadConfigOrExit(options.config);
      await reportFailures(async () => {
        const logger = createLogger({ ...config.log, level: 'warn' }, process.stderr);
        const storage = await openStorage(config, logger);
        process.stderr.write(`backing up ${describeDatabase(config.database)} and ${storage.name} storage to ${dir}\n`);
        const report = await runBackup(config, storage, {
          dir,
          dryRun: options.dryRun,
          progress: new ByteProgress('blobs'),
        });
        if (report.dryRun) {
          const { counts } = report;
          process.stdout.write(
            `dry run: nothing written\nsnapshot: ${counts.repositories} repositories, ${counts.manifests} manifests, ${counts.tags} tags, ${counts.users} users, ${counts.projects} projects\nwould copy ${report.toCopy} of ${report.blobs} blobs (${formatBytes(report.bytesToCopy)} of ${formatBytes(report.bytes)}); ${counts.blobsAlreadyPresent} already in ${dir}\n`,
          );
          return;
        }
        const { manifest } = report;
        const { counts } = manifest;
        process.stdout.write(
          `${[
            `backup written to ${dir} in ${(report.elapsedMs / 1000).toFixed(1)} s`,
            `snapshot: ${counts.repositories} repositories, ${counts.manifests} manifests, ${counts.tags} tags, ${counts.users} users, ${counts.projects} projects (${manifest.snapshot.digest})`,
            `blobs: ${counts.blobs} (${formatBytes(manifest.bytes.blobs)}): ${counts.blobsCopied} copied (${formatBytes(manifest.bytes.copied)}), ${counts.blobsAlreadyPresent} already there`,
            ...(report.prunedBlobs > 0
              ? [`${report.prunedBlobs} unreferenced blobs were gone from storage and left out`]
              : []),
            ...(report.snapshots > 1
              ? [`snapshots taken: ${report.snapshots} (deletions overtook the earlier ones)`]
              : []),
          ].join('\n')}\n`,
        );
      });
    });

  backup
    .command('verify')
    .description('re-hash the snapshot and every blob of a backup against their digests')
    .argument('<dir>', 'the backup directory')
    .action(async (dirArgument: string) => {
      await reportFailures(async () => {
        const dir = resolve(dirArgument);
        const report = await verifyBackup(dir, new ByteProgress('verify'));
        for (const problem of report.problems) process.stdout.write(`${problem}\n`);
        if (report.problems.length > 0) {
          process.stdout.write(`backup ${dir} is damaged: ${report.problems.length} problem(s)\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(
          `backup ${dir} of ${report.manifest.createdAt} is intact: snapshot and ${report.blobs} blobs (${formatBytes(report.bytes)}) match their digests\n`,
        );
      });
    });
  return backup;
}

/** A failure is one line on standard error and exit status 1. */
export async function reportFailures(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    process.stderr.write(`wharf: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  }
}
