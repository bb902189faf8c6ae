import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const projectRoot = resolve(import.meta.dirname, '..', '..');
const cliEntry = join(projectRoot, 'src', 'cli', 'main.ts');

export interface ConfigCheck {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `wharf config check FILE` with exactly the variables given (and PATH), so that nothing from the
 * test's own environment (a REGISTRY_* left exported) changes the verdict.
 */
export function checkConfig(file: string, env: Record<string, string> = {}): ConfigCheck {
  const result = spawnSync(process.execPath, ['--import', 'tsx', cliEntry, 'config', 'check', file], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
