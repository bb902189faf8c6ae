import { Command } from 'commander';
import { version } from './version.ts';

/**
 * Each command's module, loaded only when it runs: a command pulls in its whole stack (the server,
 * the registry client, database drivers), and loading every stack made each invocation seconds
 * slower. `wharf --help` and unknown commands load them all.
 */
const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve-command.ts')).serveCommand(),
  config: async () => (await import('./config-check-command.ts')).configCheckCommand(),
  cert: async () => (await import('./cert-command.ts')).certCommand(),
  user: async () => (await import('./user-command.ts')).userCommand(),
  db: async () => (await import('./db-command.ts')).dbCommand(),
  gc: async () => (await import('./gc-command.ts')).gcCommand(),
  audit: async () => (await import('./audit-command.ts')).auditCommand(),
  copy: async () => (await import('./copy-command.ts')).copyCommand(),
  sync: async () => (await import('./sync-command.ts')).syncCommand(),
  export: async () => (await import('./export-command.ts')).exportCommand(),
  import: async () => (await import('./import-command.ts')).importCommand(),
  backup: async () => (await import('./backup-command.ts')).backupCommand(),
  restore: async () => (await import('./restore-command.ts')).restoreCommand(),
  scan: async () => (await import('./scan-command.ts')).scanCommand(),
};

const program = new Command()
  .name('wharf')
  .description('Wharf: an OCI Distribution registry with what an organisation needs around it.')
  .version(version, '-v, --version', 'print the version')
  .showHelpAfterError();

const requested = process.argv[2];
const wanted =
  requested !== undefined && Object.hasOwn(commands, requested)
    ? [requested]
    : requested === '-v' || requested === '--version'
      ? []
      : Object.keys(commands);
for (const name of wanted) {
  const load = commands[name];
  if (load) program.addCommand(await load());
}

await program.parseAsync(process.argv);
