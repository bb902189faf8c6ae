/** One challenge of a `WWW-Authenticate` header: the scheme (lower-cased) and its parameters. */
export interface Challenge {
  scheme: string;
  /** Parameter names lower-cased; values unquoted. */
  params: Record<string, string>;
}

const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Parses `WWW-Authenticate` values (RFC 9110 §11.6.1) into challenges: several may share one
 * header, separated by commas that also separate parameters, so a name not followed by `=` starts
 * a new challenge. Quoted values may contain commas and backslash escapes.
 */
export function parseWwwAuthenticate(values: string | readonly string[] | undefined): Challenge[] {
  const challenges: Challenge[] = [];
  for (const value of typeof values === 'string' ? [values] : (values ?? [])) {
    challenges.push(...parseOne(value));
  }
  return challenges;
}

function parseOne(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let rest = header;
  let current: Challenge | undefined;
  const skip = (pattern: RegExp) => {
    rest = rest.replace(pattern, '');
  };
  while (true) {
    skip(/^[\s,]+/);
    if (rest === '') break;
    const name = token.exec(rest)?.[0];
    if (name === undefined) break; // malformed: keep what was understood
    rest = rest.slice(name.length);
    const afterName = rest.replace(/^\s*/, '');
    if (current !== undefined && afterName.startsWith('=') && !afterName.startsWith('==')) {
      rest = afterName.slice(1).replace(/^\s*/, '');
      current.params[name.toLowerCase()] = readValue();
      continue;
    }
    current = { scheme: name.toLowerCase(), params: {} };
    challenges.push(current);
    // token68 (`Basic dXNlcg==`) carries no parameters the client needs; skip it.
    const token68 = /^\s+[A-Za-z0-9._~+/-]+=*\s*(?=,|$)/.exec(rest);
    if (token68 && !/=[^=]/.test(token68[0])) rest = rest.slice(token68[0].length);
  }
  return challenges;

  function readValue(): string {
    if (rest.startsWith('"')) {
      let value = '';
      let index = 1;
      while (index < rest.length) {
        const char = rest[index] as string;
        if (char === '\\' && index + 1 < rest.length) {
          value += rest[index + 1];
          index += 2;
        } else if (char === '"') {
          index += 1;
          break;
        } else {
          value += char;
          index += 1;
        }
      }
      rest = rest.slice(index);
      return value;
    }
    const bare = /^[^,\s]*/.exec(rest)?.[0] ?? '';
    rest = rest.slice(bare.length);
    return bare;
  }
}
