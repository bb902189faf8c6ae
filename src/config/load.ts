import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from './config.ts';
import { ConfigError } from './config-error.ts';
import { applyDistributionCompatibility } from './distribution-compat.ts';
import { applyEnvironment, type EnvironmentSources } from './environment.ts';
import { describeIssues } from './issues.ts';
import { type KeyPath, type RawMap, withoutNulls } from './raw-tree.ts';
import { configSchema, minimumFilesystemThreads, type ParsedConfig } from './schema.ts';
import { parseYamlConfig, type YamlConfigSource } from './yaml-source.ts';

export interface LoadConfigOptions {
  /** The YAML file; without one, the embedded defaults are the base. */
  file?: string;
  /** Where REGISTRY_* overrides come from; process.env when not given. */
  env?: Record<string, string | undefined>;
  /** What relative paths are resolved against; process.cwd() when not given. */
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** Accepted but worth telling the operator: ignored Distribution keys, deprecated spellings. */
  warnings: string[];
}

/**
 * Reads the config file (if any), applies REGISTRY_* environment overrides, validates the result and
 * fills in defaults. Anything wrong is a ConfigError naming every bad key.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const file = options.file === undefined ? undefined : resolve(cwd, options.file);
  const source = file === undefined ? undefined : parseYamlConfig(await readConfigFile(file), file);
  const tree: RawMap = source?.tree ?? {};
  const warnings = [...(source?.warnings ?? [])];

  const environment = applyEnvironment(tree, options.env ?? process.env);
  warnings.push(...environment.warnings);
  const locate = locator(file, source, environment.sources);

  const compatibility = applyDistributionCompatibility(tree, locate);
  warnings.push(...compatibility.warnings);
  const result = configSchema.safeParse(withoutNulls(tree), { reportInput: true });
  const problems = [...compatibility.problems, ...(result.success ? [] : describeIssues(result.error.issues, locate))];
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  return { config: finish(result.data, cwd, warnings), warnings };
}

async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`${file}: config file not found`);
    if (code === 'EISDIR') throw new ConfigError(`${file}: is a directory, not a config file`);
    throw new ConfigError(`${file}: cannot read config file: ${(error as Error).message}`);
  }
}

/** Names the file line of a key and the variables that set it (or a section holding it). */
function locator(file: string | undefined, source: YamlConfigSource | undefined, sources: EnvironmentSources) {
  const locate = (path: KeyPath): string => {
    const keys = path.map(String);
    for (let length = keys.length; length > 0; length--) {
      const variable = sources.get(keys.slice(0, length).join('.'));
      // The variable replaced whatever the file said at this key.
      if (variable !== undefined) return ` (set by ${variable})`;
    }
    const places: string[] = [];
    const line = source?.lineOf(path);
    if (file !== undefined && line !== undefined) places.push(`${file}:${line}`);
    const prefix = `${keys.join('.')}.`;
    const below = [...sources].filter(([key]) => key.startsWith(prefix)).map(([, variable]) => variable);
    if (below.length > 0) places.push(`set by ${below.join(', ')}`);
    // A required key that is missing has no place of its own: name what set its section.
    if (places.length === 0 && keys.length > 1) return locate(keys.slice(0, -1));
    return places.length === 0 ? '' : ` (${places.join(', ')})`;
  };
  return locate;
}

/** Resolves paths against the working directory and applies the defaults that depend on other keys. */
function finish(parsed: ParsedConfig, cwd: string, warnings: string[]): Config {
  const { filesystem } = parsed.storage;
  const rootdirectory = resolve(cwd, filesystem.rootdirectory);
  let maxthreads = filesystem.maxthreads;
  if (maxthreads < minimumFilesystemThreads) {
    warnings.push(
      `storage.filesystem.maxthreads: ${maxthreads} is below the minimum of ${minimumFilesystemThreads}; ${minimumFilesystemThreads} is used`,
    );
    maxthreads = minimumFilesystemThreads;
  }
  const databasePath = parsed.database.path ?? join(rootdirectory, 'wharf.db');
  return {
    ...parsed,
    storage: { ...parsed.storage, filesystem: { rootdirectory, maxthreads } },
    database: { ...parsed.database, path: databasePath === ':memory:' ? databasePath : resolve(cwd, databasePath) },
  };
}
