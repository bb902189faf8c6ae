import { resolve } from 'node:path';
import { Command } from 'commander';
import { runRestore } from '../backup/run-restore.ts';
import { describeStorage, openStorage } from '../composition/storage.ts';
import { describeDatabase } from '../metadata/open-database.ts';
import { createLogger } from '../observability/logger.ts';
import { reportFailures } from './backup-command.ts';
import { ByteProgress } from './byte-progress.ts';
import { loadConfigOrExit } from './load-config-or-exit.ts';
import { formatBytes } from './transfer-progress.ts';

const help = `
The target is the storage and database the config describes (any storage driver, SQLite or
PostgreSQL); both must be empty. Blobs are restored first, each verified against its digest, then
the metadata in one transaction, then every blob a manifest references is checked. Start Wharf on
the target afterwards.

Examples:
  wharf restore --from /backups/wharf -c /etc/wharf/config.yml
  REGISTRY_DATABASE_URL=postgres://wharf@db/wharf wharf restore --from /backups/wharf

See docs/backup.md.`;

/** `wharf restore`: a backup into an empty registry. */
export function restoreCommand(): Command {
  return new Command('restore')
    .description('restore a backup (`wharf backup`) into an empty storage and database')
    .requiredOption('--from <dir>', 'the backup directory')
    .option('-c, --config <file>', 'YAML config file, as for `wharf serve`')
    .addHelpText('after', help)
    .action(async (options: { from: string; config?: string }) => {
      const dir = resolve(options.from);
      const { config } = await loadConfigOrExit(options.config);
      await reportFailures(async () => {
        const logger = createLogger({ ...config.log, level: 'warn' }, process.stderr);
        const storage = await openStorage(config, logger);
        process.stderr.write(
          `restoring ${dir} into ${describeDatabase(config.database)} and ${describeStorage(config)}\n`,
        );
        const report = await runRestore(config, storage, dir, new ByteProgress('blobs'));
        process.stdout.write(
          `restored the backup of ${report.manifest.createdAt} in ${(report.elapsedMs / 1000).toFixed(1)} s: ${report.blobs} blobs (${formatBytes(report.bytes)}), ${report.rows} rows; every referenced blob is in storage\n`,
        );
      });
    });
}
