import { Command } from 'commander';
import { isConfigError, loadConfig } from '../config/index.ts';
import { startRegistry } from '../main.ts';

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
      let loaded: Awaited<ReturnType<typeof loadConfig>>;
      try {
        loaded = await loadConfig({ file: options.config ?? file, env: process.env });
      } catch (error) {
        if (isConfigError(error)) {
          process.stderr.write(`wharf: configuration error: ${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
      let registry: Awaited<ReturnType<typeof startRegistry>>;
      try {
        registry = await startRegistry(loaded.config, loaded.warnings);
      } catch (error) {
        if (isConfigError(error)) {
          process.stderr.write(`wharf: configuration error: ${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
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
