import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { type AuditFilter, auditOutcomes, auditRecordJson, parseRfc3339 } from '../events/audit/audit-entry.ts';
import { AuditStore } from '../events/audit/audit-store.ts';
import { pendingMigrations } from '../metadata/migrate.ts';
import { describeDatabase, openDatabase } from '../metadata/open-database.ts';
import { loadConfigOrExit } from './load-config-or-exit.ts';

interface ExportOptions {
  config?: string;
  from?: string;
  to?: string;
  actor?: string;
  project?: string;
  action?: string;
  resource?: string;
  outcome?: AuditFilter['outcome'];
  output?: string;
}

/** `wharf audit`: the audit log in the metadata database that `wharf serve` uses. */
export function auditCommand(): Command {
  const audit = new Command('audit').description(
    'the audit log: who pushed, pulled, deleted, logged in or changed what',
  );

  audit
    .command('export')
    .description('write audit log entries as JSON lines, oldest first (read a batch at a time, whatever the size)')
    .option('-c, --config <file>', 'YAML config file, as for `wharf serve`')
    .option('--from <time>', 'entries at or after this time (RFC 3339, e.g. 2025-01-01T00:00:00Z)')
    .option('--to <time>', 'entries before this time (RFC 3339)')
    .option('--actor <name>', 'entries of this user or robot')
    .option('--project <name>', 'entries about this project')
    .option('--action <actions>', 'these actions, separated by commas (manifest.push,tag.delete,login)')
    .option('--resource <resource>', 'this resource exactly (team/app:1.0), or every entry of a repository')
    .addOption(new Option('--outcome <outcome>', 'successes or failures only').choices(auditOutcomes))
    .option('-o, --output <file>', 'write to this file (standard output when absent)')
    .addHelpText(
      'after',
      '\nEach line is one entry, as GET /api/v1/audit-logs shows it. A summary goes to standard error, with a\nprogress bar when writing to a file from a terminal. See docs/audit.md.\n\nExamples:\n  wharf audit export --from 2025-01-01T00:00:00Z --to 2025-02-01T00:00:00Z -o january.jsonl\n  wharf audit export --actor alice --action manifest.push,manifest.delete | jq .resource',
    )
    .action(async (options: ExportOptions, command: Command) => {
      const filter = filterOf(options, (message) => command.error(`error: ${message}`, { exitCode: 2 }));
      const { config } = await loadConfigOrExit(options.config);
      const db = await openDatabase(config.database, { migrations: 'none' });
      try {
        if ((await pendingMigrations(db)).includes('008-audit-log')) {
          throw new Error(`${describeDatabase(config.database)} has no audit log yet: run \`wharf db migrate\` first`);
        }
        const store = new AuditStore(db);
        const destination = options.output ?? 'standard output';
        const count = await exportEntries(store, filter, options.output);
        process.stderr.write(`exported ${count} ${count === 1 ? 'entry' : 'entries'} to ${destination}\n`);
      } catch (error) {
        process.stderr.write(`wharf: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      } finally {
        await db.destroy();
      }
    });

  return audit;
}

async function exportEntries(store: AuditStore, filter: AuditFilter, file: string | undefined): Promise<number> {
  const output: Writable = file === undefined ? process.stdout : createWriteStream(file);
  if (file !== undefined) await once(output, 'open');
  const bar = file !== undefined && process.stderr.isTTY ? new SingleBar({ format: progressFormat }) : undefined;
  bar?.start(await store.count(filter), 0);
  let count = 0;
  try {
    for await (const record of store.stream(filter)) {
      if (!output.write(`${JSON.stringify(auditRecordJson(record))}\n`)) await once(output, 'drain');
      count++;
      if (count % 1000 === 0) bar?.update(count);
    }
    bar?.update(count);
  } finally {
    bar?.stop();
    if (file !== undefined) {
      output.end();
      await once(output, 'finish');
    }
  }
  return count;
}

const progressFormat = 'exporting [{bar}] {value}/{total} entries | {eta_formatted} left';

function filterOf(options: ExportOptions, usage: (message: string) => never): AuditFilter {
  const filter: AuditFilter = {};
  const time = (name: 'from' | 'to') => {
    const text = options[name];
    if (text === undefined) return undefined;
    return (
      parseRfc3339(text) ??
      usage(`--${name}: expected an RFC 3339 time such as 2025-01-31T09:30:00Z, got ${JSON.stringify(text)}`)
    );
  };
  const from = time('from');
  const to = time('to');
  if (from !== undefined) filter.from = from;
  if (to !== undefined) filter.to = to;
  if (options.actor !== undefined) filter.actor = options.actor;
  if (options.project !== undefined) filter.project = options.project;
  if (options.resource !== undefined) filter.resource = options.resource;
  if (options.outcome !== undefined) filter.outcome = options.outcome;
  if (options.action !== undefined) {
    filter.actions = options.action
      .split(',')
      .map((action) => action.trim())
      .filter((action) => action !== '');
  }
  return filter;
}
