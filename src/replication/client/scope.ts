/**
 * Docker token scopes, `repository:team/app:pull,push` and `registry:catalog:*`: what a request
 * needs, sent to the token service, and the key under which a token is cached.
 */

export type Action = 'pull' | 'push' | 'delete' | '*';

export function repositoryScope(repository: string, ...actions: Action[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

export const catalogScope = 'registry:catalog:*';

interface ParsedScope {
  resource: string;
  actions: Set<string>;
}

function parseScope(scope: string): ParsedScope | undefined {
  const lastColon = scope.lastIndexOf(':');
  if (lastColon <= 0) return undefined;
  return { resource: scope.slice(0, lastColon), actions: new Set(scope.slice(lastColon + 1).split(',')) };
}

/** The union of scope lists, one entry per resource with its actions merged, in a stable order. */
export function mergeScopes(...lists: readonly (readonly string[])[]): string[] {
  const merged = new Map<string, Set<string>>();
  for (const scope of lists.flat()) {
    for (const single of scope.split(' ')) {
      const parsed = parseScope(single);
      if (parsed === undefined) continue;
      const actions = merged.get(parsed.resource) ?? new Set<string>();
      for (const action of parsed.actions) if (action !== '') actions.add(action);
      merged.set(parsed.resource, actions);
    }
  }
  return [...merged.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resource, actions]) => `${resource}:${[...actions].sort().join(',')}`);
}

/** Whether a token asked for with `granted` also covers `wanted` (`*` covers every action). */
export function coversScopes(granted: readonly string[], wanted: readonly string[]): boolean {
  const have = new Map<string, Set<string>>();
  for (const scope of granted) {
    const parsed = parseScope(scope);
    if (parsed) have.set(parsed.resource, parsed.actions);
  }
  return wanted.every((scope) => {
    const parsed = parseScope(scope);
    if (parsed === undefined) return true;
    const actions = have.get(parsed.resource);
    return actions !== undefined && (actions.has('*') || [...parsed.actions].every((action) => actions.has(action)));
  });
}
