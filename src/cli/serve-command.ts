import { Command } from 'commander';
import { startRegistry } from '../main.ts';
import { exitOnConfigError, loadConfigOrExit } from './load-config-or-exit.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the registry (embedded defaults: filesystem storage under ./data, SQLite, port 5000)')
    .argument('[config]', 'YAML config file (Distribution config.yml keys); REGISTRY_* variables override it')
    .option('-c, --config <file>', 'YAML config file (same as the argument)')
    .addHelpText(
      'after',
      '\nExamples:\n  wharf serve\n  wharf serve /etc/wharf/config.yml\n  REGISTRY_HTTP_ADDR=:5001 wharf serve\n\nSee docs/configuration.md for every key.',
    )
    .action(async (file: string | undefined, options: { config?: string }) => {
      const loaded = await loadConfigOrExit(options.config ?? file);
      // Files the config names (certificates, htpasswd) are read at start: their errors are config errors too.
      const registry = await startRegistry(loaded.config, loaded.warnings).catch((error: unknown) => {
        exitOnConfigError(error);
        throw error;
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        registry.logger.info(`received ${signal}, shutting down`);
        registry.close().then(
          () => process.exit(0),
          (error: unknown) => {
            registry.logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
