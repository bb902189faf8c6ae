/**
 * The configuration as read from YAML and the environment, before validation. Scalars stay text
 * (as Go's YAML decoder sees them before it knows the target type); an empty value is null.
 */
export type RawValue = string | null | RawValue[] | RawMap;
export interface RawMap {
  [key: string]: RawValue;
}

export type KeyPath = readonly (string | number)[];

export function isRawMap(value: unknown): value is RawMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `storage.delete.enabled`, `health.file[0].interval`. */
export function formatPath(path: KeyPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? segment : `.${segment}`;
  }
  return text === '' ? '(top level)' : text;
}

export function getAt(tree: RawMap, path: readonly string[]): RawValue | undefined {
  let current: RawValue | undefined = tree;
  for (const key of path) {
    if (!isRawMap(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

/** Sets a value, creating (or replacing non-mapping values with) the mappings on the way. */
export function setAt(tree: RawMap, path: readonly string[], value: RawValue): void {
  let current = tree;
  for (const key of path.slice(0, -1)) {
    const next = Object.hasOwn(current, key) ? current[key] : undefined;
    if (isRawMap(next)) {
      current = next;
    } else {
      const created: RawMap = {};
      current[key] = created;
      current = created;
    }
  }
  const last = path.at(-1);
  if (last !== undefined) current[last] = value;
}

export function deleteAt(tree: RawMap, path: readonly string[]): void {
  const parent = getAt(tree, path.slice(0, -1));
  const last = path.at(-1);
  if (isRawMap(parent) && last !== undefined) delete parent[last];
}

/** Drops null values from mappings: an empty key means "not set", so its default applies. */
export function withoutNulls(value: RawValue): RawValue {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isRawMap(value)) return value;
  const result: RawMap = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== null) result[key] = withoutNulls(item);
  }
  return result;
}
