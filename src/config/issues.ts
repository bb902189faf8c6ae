import type { z } from 'zod';
import { didYouMean } from './did-you-mean.ts';
import { formatPath, type KeyPath } from './raw-tree.ts';
import { describeValue } from './scalars.ts';
import { knownKeysAt } from './schema-walk.ts';

/** Says where a key came from: ` (config.yml:12)`, ` (set by REGISTRY_HTTP_ADDR)` or ''. */
export type Locate = (path: KeyPath) => string;

const kinds: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'a string',
};

/** One line per problem, each starting with the key path. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], locate: Locate): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((segment) => typeof segment !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const parent = path.map(String);
      for (const key of issue.keys) {
        const hint = didYouMean(key, knownKeysAt(parent));
        lines.push(`${formatPath([...path, key])}: unknown key${hint}${locate([...path, key])}`);
      }
    } else if (issue.code === 'invalid_type') {
      const expected = kinds[issue.expected] ?? issue.expected;
      lines.push(`${formatPath(path)}: expected ${expected}, got ${describeValue(issue.input)}${locate(path)}`);
    } else {
      lines.push(`${formatPath(path)}: ${issue.message}${locate(path)}`);
    }
  }
  return lines;
}
