/** Actions on a repository, as Docker's token scopes name them. */
export type RepositoryAction = 'pull' | 'push' | 'delete';

/**
 * One resource and the actions asked for or granted, Docker token auth's `access` claim entry:
 * `{"type":"repository","name":"team/app","actions":["pull","push"]}`.
 */
export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

/**
 * Parses a scope string, `repository:team/app:pull,push` or `registry:catalog:*`. The name may
 * itself hold a colon (a registry host with a port), so type is before the first colon and actions
 * after the last. Returns undefined for anything malformed.
 */
export function parseScope(scope: string): ResourceAccess | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((action) => action.trim())
    .filter((action) => action !== '');
  if (!/^[a-z0-9]+(?:\([a-z0-9]+\))?$/.test(type) || name === '') return undefined;
  return { type, name, actions: [...new Set(actions)] };
}

/** Parses a space-separated list of scopes (one `scope` parameter may carry several). */
export function parseScopes(values: readonly string[]): ResourceAccess[] {
  const result: ResourceAccess[] = [];
  for (const value of values) {
    for (const part of value.split(' ')) {
      if (part === '') continue;
      const parsed = parseScope(part);
      if (parsed) result.push(parsed);
    }
  }
  return mergeAccess(result);
}

export function formatScope(access: ResourceAccess): string {
  return `${access.type}:${access.name}:${access.actions.join(',')}`;
}

/** Joins entries for the same resource, so each resource appears once. */
export function mergeAccess(entries: readonly ResourceAccess[]): ResourceAccess[] {
  const merged = new Map<string, ResourceAccess>();
  for (const entry of entries) {
    const key = `${entry.type}\u0000${entry.name}`;
    const existing = merged.get(key);
    if (existing) existing.actions = [...new Set([...existing.actions, ...entry.actions])];
    else merged.set(key, { type: entry.type, name: entry.name, actions: [...entry.actions] });
  }
  return [...merged.values()];
}

/** Whether `granted` covers every action of `wanted` (`*` covers all). */
export function covers(granted: readonly ResourceAccess[], wanted: ResourceAccess): boolean {
  const actions = new Set<string>();
  for (const entry of granted) {
    if (entry.type === wanted.type && entry.name === wanted.name) {
      for (const action of entry.actions) actions.add(action);
    }
  }
  if (actions.has('*')) return true;
  return wanted.actions.every((action) => actions.has(action));
}
