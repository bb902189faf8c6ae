/**
 * Glob patterns as Harbor's replication filters take them (doublestar): `*` matches within one path
 * component, `**` across components, `?` one character other than `/`, `{a,b}` alternatives and
 * `[abc]` / `[!abc]` character classes. Matching is against the whole text.
 */
export function compileGlob(pattern: string): RegExp {
  let source = '';
  let braces = 0;
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index] as string;
    if (char === '*') {
      if (pattern[index + 1] === '*') {
        index++;
        // `a/**/b` also matches `a/b`.
        if (pattern[index + 1] === '/') {
          index++;
          source += '(?:.*/)?';
        } else {
          source += '.*';
        }
      } else {
        source += '[^/]*';
      }
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '{') {
      braces++;
      source += '(?:';
    } else if (char === '}' && braces > 0) {
      braces--;
      source += ')';
    } else if (char === ',' && braces > 0) {
      source += '|';
    } else if (char === '[') {
      const end = pattern.indexOf(']', index + 2);
      if (end < 0) {
        source += '\\[';
        continue;
      }
      let body = pattern.slice(index + 1, end);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      source += `[${negated ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      index = end;
    } else if (char === '\\' && index + 1 < pattern.length) {
      index++;
      source += escapeRegExp(pattern[index] as string);
    } else {
      source += escapeRegExp(char);
    }
  }
  if (braces > 0) throw new Error(`unbalanced "{" in the pattern ${JSON.stringify(pattern)}`);
  return new RegExp(`^${source}$`);
}

/** Whether the pattern matches exactly one text (no wildcard): the name can be used as it is. */
export function isLiteralGlob(pattern: string): boolean {
  return !/[*?[{\\]/.test(pattern);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
