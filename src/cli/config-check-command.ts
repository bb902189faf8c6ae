import { Command } from 'commander';
import { isConfigError, loadConfig } from '../config/index.ts';

export function configCheckCommand(): Command {
  const config = new Command('config').description('work with configuration files');
  config
    .command('check')
    .description('validate a config file (and REGISTRY_* overrides) without starting the registry')
    .argument('[file]', 'YAML config file')
    .option('--print', 'print the effective configuration as JSON')
    .action(async (file: string | undefined, options: { print?: boolean }) => {
      try {
        const { config: effective, warnings } = await loadConfig({ file, env: process.env });
        for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
        if (options.print) process.stdout.write(`${JSON.stringify(effective, redactSecrets, 2)}\n`);
        process.stdout.write(`configuration OK${file ? `: ${file}` : ''}\n`);
      } catch (error) {
        if (isConfigError(error)) {
          process.stderr.write(`configuration error: ${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
    });
  return config;
}

/** Keys whose values are credentials: printed as asterisks, so the output can be shared. */
const secretKey = /password|secret|sessiontoken|^key$/i;

function redactSecrets(key: string, value: unknown): unknown {
  return typeof value === 'string' && value !== '' && secretKey.test(key) ? '********' : value;
}
