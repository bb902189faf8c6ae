import { Command } from 'commander';
import { auditCommand } from './audit-command.ts';
import { certCommand } from './cert-command.ts';
import { configCheckCommand } from './config-check-command.ts';
import { copyCommand } from './copy-command.ts';
import { dbCommand } from './db-command.ts';
import { exportCommand } from './export-command.ts';
import { gcCommand } from './gc-command.ts';
import { importCommand } from './import-command.ts';
import { serveCommand } from './serve-command.ts';
import { syncCommand } from './sync-command.ts';
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
program.addCommand(gcCommand());
program.addCommand(auditCommand());
program.addCommand(copyCommand());
program.addCommand(syncCommand());
program.addCommand(exportCommand());
program.addCommand(importCommand());

await program.parseAsync(process.argv);
