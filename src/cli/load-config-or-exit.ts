import { isConfigError, type LoadedConfig, loadConfig } from '../config/index.ts';

/**
 * Loads the config as every command does (the file, then REGISTRY_* overrides); a configuration
 * error is one line on stderr and exit status 2, anything else propagates.
 */
export async function loadConfigOrExit(file: string | undefined): Promise<LoadedConfig> {
  try {
    return await loadConfig({ file, env: process.env });
  } catch (error) {
    exitOnConfigError(error);
    throw error;
  }
}

/** Exits with status 2 when `error` is a configuration error; returns otherwise. */
export function exitOnConfigError(error: unknown): void {
  if (!isConfigError(error)) return;
  process.stderr.write(`wharf: configuration error: ${error.message}\n`);
  process.exit(2);
}
