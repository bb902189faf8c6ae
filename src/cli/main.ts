import { Command } from 'commander';
import { certCommand } from './cert-command.ts';
import { configCheckCommand } from './config-check-command.ts';
import { dbCommand } from './db-command.ts';
import { serveCommand } from './serve-command.ts';
import { userCommand } from './user-command.ts';
import { version } from './version.ts';

const program = new Command()
  .name('wharf')
  .description('Wharf: an OCI Distribution registry with what an organisation needs around it.')
  .version(version, '-v, --version', 'print the version')
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(configCheckCommand());
program.addCommand(certCommand());
program.addCommand(userCommand());
program.addCommand(dbCommand());

await program.parseAsync(process.argv);
