/**
 * A configuration that cannot be used: a missing file, invalid YAML, an unknown key, a wrong type or
 * a bad value. Each problem is one line naming the key path (and the file line or the environment
 * variable it came from), so an operator can fix all of them in one go.
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : [...problems];
    super(list.join('\n'));
    this.name = 'ConfigError';
    this.problems = list;
  }
}

export function isConfigError(value: unknown): value is ConfigError {
  return value instanceof ConfigError;
}
