import { readFile } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';

const projectRoot = resolve(import.meta.dirname, '..', '..');
export const dockerignorePath = join(projectRoot, '.dockerignore');

interface Rule {
  exclude: boolean;
  pattern: RegExp;
}

/**
 * Whether a path (relative to the build context, `/`-separated) reaches the builder under a
 * .dockerignore, with Docker's rules: patterns match a path or any of its parent directories,
 * `*` and `?` stay within one path component, `**` spans any number of them, `!` re-includes,
 * and the last rule that matches decides.
 */
export type ContextFilter = (path: string) => boolean;

export function parseDockerignore(text: string): ContextFilter {
  const rules: Rule[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const exclude = !line.startsWith('!');
    const cleaned = posix.normalize(exclude ? line : line.slice(1).trim()).replace(/^\/+|\/+$/g, '');
    rules.push({ exclude, pattern: globToRegExp(cleaned) });
  }
  return (path) => {
    const candidates = parentsAndSelf(posix.normalize(path).replace(/^\/+|\/+$/g, ''));
    let included = true;
    for (const rule of rules) {
      if (candidates.some((candidate) => rule.pattern.test(candidate))) included = !rule.exclude;
    }
    return included;
  };
}

export async function readDockerignore(): Promise<ContextFilter> {
  return parseDockerignore(await readFile(dockerignorePath, 'utf8'));
}

function parentsAndSelf(path: string): string[] {
  const parts = path.split('/');
  return parts.map((_, index) => parts.slice(0, index + 1).join('/'));
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let index = 0; index < glob.length; index++) {
    const char = glob[index] as string;
    if (char === '*' && glob[index + 1] === '*') {
      source += '.*';
      index++;
      if (glob[index + 1] === '/') index++;
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}
