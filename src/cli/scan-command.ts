import { resolve } from 'node:path';
import { Command } from 'commander';
import type { Config } from '../config/index.ts';
import { describeDatabase, openDatabase } from '../metadata/open-database.ts';
import { importOsv } from '../scan/osv-import.ts';
import { scanDatabase } from '../scan/scan-tables.ts';
import { VulnerabilityDb } from '../scan/vulnerability-db.ts';
import { loadConfigOrExit } from './load-config-or-exit.ts';

/**
 * `wharf scan db`: the vulnerability database the built-in scanner matches packages against,
 * kept in the metadata database and fed offline from OSV JSON files (docs/scanning.md).
 */
export function scanCommand(): Command {
  const scan = new Command('scan')
    .description('the built-in vulnerability scanner: its database, imported offline from OSV JSON')
    .option('-c, --config <file>', 'YAML config file, as for `wharf serve`')
    .addHelpText(
      'after',
      '\nExamples:\n  wharf scan db import ./osv/debian\n  wharf scan db import CVE-2024-0001.json\n  wharf scan db status\n\nSee docs/scanning.md.',
    );
  const db = scan.command('db').description('the vulnerability database');

  db.command('import')
    .description(
      'import OSV records from a JSON file or a directory of them (searched recursively); running servers rescan',
    )
    .argument(
      '<file-or-dir>',
      'an OSV JSON file (one record or an array) or a directory, e.g. an unzipped osv.dev all.zip',
    )
    .action(async (source: string, _options: unknown, command: Command) => {
      await withDatabase(command, async (vulnerabilities, config) => {
        const tty = process.stderr.isTTY;
        let last = 0;
        const summary = await importOsv(vulnerabilities, resolve(source), ({ total, done }) => {
          const now = Date.now();
          if (done !== total && now - last < 500) return;
          last = now;
          const line = `reading ${done}/${total} files`;
          process.stderr.write(tty ? `\r${line}` : `${line}\n`);
        });
        if (tty) process.stderr.write('\n');
        for (const rejected of summary.rejected.slice(0, 20)) {
          process.stderr.write(`skipped ${rejected.path}: ${rejected.reason}\n`);
        }
        if (summary.rejected.length > 20) process.stderr.write(`… and ${summary.rejected.length - 20} more skipped\n`);
        process.stdout.write(
          `imported ${summary.advisories} advisories (${summary.ranges} affected ranges) from ${summary.files} files into ${describeDatabase(config.database)}\n` +
            `${summary.withoutRanges} without an ECOSYSTEM range, ${summary.rejected.length} files skipped\n` +
            `database version ${summary.version}; servers rescan stored reports\n`,
        );
        if (summary.advisories === 0) process.exitCode = 1;
      });
    });

  db.command('status')
    .description('show the database version, when it was imported, and its advisories per ecosystem')
    .action(async (_options: unknown, command: Command) => {
      await withDatabase(command, async (vulnerabilities) => {
        const status = await vulnerabilities.status();
        if (!status.version) {
          process.stdout.write('no vulnerability database imported yet (wharf scan db import <file-or-dir>)\n');
          process.exitCode = 1;
          return;
        }
        process.stdout.write(
          `version: ${status.version}\nimported: ${new Date(status.importedAt ?? 0).toISOString()}\nadvisories: ${status.advisories}\nranges: ${status.ranges}\n`,
        );
        for (const ecosystem of status.ecosystems)
          process.stdout.write(`  ${ecosystem.ecosystem}: ${ecosystem.ranges}\n`);
      });
    });
  return scan;
}

async function withDatabase(
  command: Command,
  work: (vulnerabilities: VulnerabilityDb, config: Config) => Promise<void>,
): Promise<void> {
  const { config: file } = command.optsWithGlobals<{ config?: string }>();
  const { config } = await loadConfigOrExit(file);
  try {
    const database = await openDatabase(config.database);
    try {
      await work(new VulnerabilityDb(scanDatabase(database)), config);
    } finally {
      await database.destroy();
    }
  } catch (error) {
    process.stderr.write(`wharf: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
