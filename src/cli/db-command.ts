import { resolve } from 'node:path';
import { Command } from 'commander';
import { type Kysely, sql } from 'kysely';
import type { DatabaseConfig } from '../config/config.ts';
import type { Config } from '../config/index.ts';
import { copyDatabase } from '../metadata/copy-database.ts';
import { migrateToLatest, migrationStatus } from '../metadata/migrate.ts';
import { isPostgres } from '../metadata/migrations/column-types.ts';
import { databaseDialect, describeDatabase, openDatabase } from '../metadata/open-database.ts';
import { connectPostgres } from '../metadata/open-postgres.ts';
import { connectSqlite } from '../metadata/open-sqlite.ts';
import type { Database } from '../metadata/schema.ts';
import { loadConfigOrExit } from './load-config-or-exit.ts';

/**
 * `wharf db`: the metadata database that `wharf serve` uses (found from the same config file and
 * REGISTRY_* variables): its migrations, and copying it into another database.
 */
export function dbCommand(): Command {
  const db = new Command('db')
    .description('the metadata database: migrations, status, copying between SQLite and PostgreSQL')
    .option('-c, --config <file>', 'YAML config file, as for `wharf serve`')
    .addHelpText(
      'after',
      '\nExamples:\n  wharf db status\n  REGISTRY_DATABASE_URL=postgres://wharf@db/wharf wharf db migrate\n  wharf db copy --from sqlite:data/wharf.db --to postgres://wharf@db.example.com/wharf\n\nSee docs/database.md.',
    );

  db.command('migrate')
    .description('apply the pending schema migrations (what `database.migrate: auto` does at start)')
    .action(async (_options: unknown, command: Command) => {
      await withConfig(command, async (config) => {
        const database = await openDatabase(config.database, { migrations: 'none' });
        try {
          const applied = await migrateToLatest(database);
          for (const name of applied) process.stdout.write(`applied ${name}\n`);
          process.stdout.write(
            applied.length === 0
              ? `${describeDatabase(config.database)} is up to date\n`
              : `${describeDatabase(config.database)} is up to date (${applied.length} applied)\n`,
          );
        } finally {
          await database.destroy();
        }
      });
    });

  db.command('status')
    .description(
      'show the database, its server and each migration, applied or pending (exit status 1 when any is pending)',
    )
    .action(async (_options: unknown, command: Command) => {
      await withConfig(command, async (config) => {
        const database = await openDatabase(config.database, { migrations: 'none' });
        try {
          const server = await serverVersion(database);
          const dialect = databaseDialect(config.database) === 'postgres' ? 'PostgreSQL' : 'SQLite';
          process.stdout.write(`database: ${describeDatabase(config.database)}\nserver: ${dialect} ${server}\n`);
          const migrations = await migrationStatus(database);
          const width = Math.max(...migrations.map((migration) => migration.name.length));
          for (const migration of migrations) {
            const state = migration.appliedAt ? `applied ${migration.appliedAt.toISOString()}` : 'pending';
            process.stdout.write(`${migration.name.padEnd(width)}  ${state}\n`);
          }
          const pending = migrations.filter((migration) => !migration.appliedAt).length;
          if (pending === 0) {
            process.stdout.write('up to date\n');
          } else {
            process.stdout.write(`${pending} pending: run \`wharf db migrate\`\n`);
            process.exitCode = 1;
          }
        } finally {
          await database.destroy();
        }
      });
    });

  db.command('copy')
    .description('copy every row of one metadata database into another, empty one (migrated first)')
    .requiredOption('--from <database>', 'sqlite:PATH or postgres://… to read')
    .requiredOption('--to <database>', 'postgres://… (or sqlite:PATH) to fill; it must hold no rows yet')
    .addHelpText(
      'after',
      '\nStop every Wharf instance that writes to the source first. Blobs stay where they are: point the\nregistry at the new database with the same storage.\n\nExample:\n  wharf db copy --from sqlite:/var/lib/wharf/wharf.db --to postgres://wharf:secret@db.example.com/wharf',
    )
    .action(async (options: { from: string; to: string }) => {
      await reportFailures(async () => {
        const from = parseDatabaseArgument(options.from, '--from');
        const to = parseDatabaseArgument(options.to, '--to');
        const source =
          databaseDialect(from) === 'postgres'
            ? connectPostgres(from)
            : await connectSqlite(from.path, { readonly: true }).catch((error: Error) => {
                throw new Error(`cannot open ${options.from}: ${error.message}`);
              });
        const target = databaseDialect(to) === 'postgres' ? connectPostgres(to) : await connectSqlite(to.path);
        try {
          process.stdout.write(`copying ${describeDatabase(from)} to ${describeDatabase(to)}\n`);
          const counts = await copyDatabase(source, target, (table, rows) => {
            process.stdout.write(`  ${table}: ${rows} ${rows === 1 ? 'row' : 'rows'}\n`);
          });
          const total = [...counts.values()].reduce((sum, rows) => sum + rows, 0);
          process.stdout.write(`copied ${total} rows\n`);
        } finally {
          await source.destroy();
          await target.destroy();
        }
      });
    });

  return db;
}

/** The server's version, as it reports it. */
async function serverVersion(database: Kysely<Database>): Promise<string> {
  const query = isPostgres(database)
    ? sql<{ version: string }>`select current_setting('server_version') as version`
    : sql<{ version: string }>`select sqlite_version() as version`;
  return (await query.execute(database)).rows[0]?.version ?? 'unknown';
}

/** `sqlite:PATH` (relative to the working directory) or a `postgres://` URL, as a database section. */
function parseDatabaseArgument(value: string, option: string): DatabaseConfig {
  const common = { pool: { max: 2 }, migrate: 'manual' as const };
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length);
    if (path === '') throw new Error(`${option}: sqlite: needs a file path, e.g. sqlite:data/wharf.db`);
    return { ...common, path: resolve(path) };
  }
  if (/^postgres(?:ql)?:\/\/./.test(value) && URL.canParse(value)) return { ...common, path: '', url: value };
  throw new Error(`${option}: expected sqlite:PATH or a postgres:// URL, got ${JSON.stringify(value)}`);
}

/** Loads the config as `wharf serve` does and runs `work`. */
async function withConfig(command: Command, work: (config: Config) => Promise<void>): Promise<void> {
  const { config: file } = command.optsWithGlobals<{ config?: string }>();
  const { config } = await loadConfigOrExit(file);
  await reportFailures(() => work(config));
}

/** Failures (a refused connection, a database that is not empty) become one line and exit status 1. */
async function reportFailures(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    process.stderr.write(`wharf: ${describeError(error)}\n`);
    process.exitCode = 1;
  }
}

function describeError(error: unknown): string {
  // A host name with several addresses fails with one error per address and no message of its own.
  if (error instanceof AggregateError && error.message === '') return error.errors.map(describeError).join('; ');
  return error instanceof Error ? error.message : String(error);
}
