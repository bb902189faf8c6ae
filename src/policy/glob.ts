/** Longer patterns are refused: a selector names repositories and tags, not documents. */
export const maxGlobLength = 256;

/**
 * A doublestar glob, as Harbor's selectors read them, compiled to an anchored regular expression:
 * `**` any characters, `*` any characters but `/`, `?` one character but `/`, `{a,b}` either
 * alternative (nestable), `[a-z]` and `[!a-z]` a character class, `\` the next character as is.
 * `**` followed by `/` also matches no directory at all (`a/**` + `/b` matches `a/b`).
 * Throws GlobSyntaxError for a pattern that is not well formed.
 */
export function compileGlob(pattern: string): RegExp {
  if (pattern.length > maxGlobLength) throw new GlobSyntaxError(`longer than ${maxGlobLength} characters`);
  let source = '';
  let depth = 0;
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index]!;
    switch (char) {
      case '*':
        if (pattern[index + 1] === '*') {
          index++;
          if (pattern[index + 1] === '/') {
            index++;
            source += '(?:.*/)?';
          } else {
            source += '.*';
          }
        } else {
          source += '[^/]*';
        }
        break;
      case '?':
        source += '[^/]';
        break;
      case '{':
        depth++;
        source += '(?:';
        break;
      case ',':
        source += depth > 0 ? '|' : ',';
        break;
      case '}':
        if (depth === 0) throw new GlobSyntaxError(`"}" at ${index + 1} closes no "{"`);
        depth--;
        source += ')';
        break;
      case '[': {
        const end = pattern.indexOf(']', index + 2);
        if (end === -1) throw new GlobSyntaxError(`"[" at ${index + 1} is never closed`);
        let body = pattern.slice(index + 1, end);
        const negated = body.startsWith('!') || body.startsWith('^');
        if (negated) body = body.slice(1);
        if (body === '') throw new GlobSyntaxError(`empty character class at ${index + 1}`);
        source += `[${negated ? '^' : ''}${body.replace(/[\\\]^[]/g, (special) => `\\${special}`)}]`;
        index = end;
        break;
      }
      case '\\': {
        const next = pattern[index + 1];
        if (next === undefined) throw new GlobSyntaxError('ends with "\\"');
        source += escapeRegExp(next);
        index++;
        break;
      }
      default:
        source += escapeRegExp(char);
    }
  }
  if (depth > 0) throw new GlobSyntaxError('"{" is never closed');
  return new RegExp(`^${source}$`);
}

/** The problem with `pattern`, or undefined when it compiles. */
export function globProblem(pattern: string): string | undefined {
  try {
    compileGlob(pattern);
    return undefined;
  } catch (error) {
    if (error instanceof GlobSyntaxError) return error.message;
    throw error;
  }
}

export class GlobSyntaxError extends Error {
  constructor(reason: string) {
    super(`invalid pattern: ${reason}`);
    this.name = 'GlobSyntaxError';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, (special) => `\\${special}`);
}
