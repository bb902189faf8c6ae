import { TransportError } from './transport-error.ts';

/**
 * Which tags a sync takes: any of the patterns, each a glob (`*` any run of characters, `?` one)
 * matched against the whole tag, or a regular expression between slashes (`/^v1\.\d+$/`,
 * unanchored unless it says so). No patterns: every tag.
 */
export function tagFilter(patterns: readonly string[]): (tag: string) => boolean {
  if (patterns.length === 0) return () => true;
  const expressions = patterns.map(compilePattern);
  return (tag) => expressions.some((expression) => expression.test(tag));
}

function compilePattern(pattern: string): RegExp {
  if (pattern.length >= 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    try {
      return new RegExp(pattern.slice(1, -1));
    } catch (error) {
      throw new TransportError('usage', `invalid tag expression ${pattern}: ${(error as Error).message}`);
    }
  }
  const source = [...pattern]
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}
