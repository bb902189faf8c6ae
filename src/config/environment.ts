import { parse } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './config-error.ts';
import { closestKey } from './did-you-mean.ts';
import { isUnimplementedDistributionKey, translatedDistributionKeys } from './distribution-keys.ts';
import { getAt, isRawMap, type RawMap, type RawValue, setAt } from './raw-tree.ts';
import { defaultHttpHeaders } from './schema.ts';
import { isListAt, knownKeysAt, schemaAt, unwrapSchema } from './schema-walk.ts';
import { yamlParseOptions } from './yaml-source.ts';

export const environmentPrefix = 'REGISTRY_';

/** Where each overridden key came from: key path (dotted) to variable name. */
export type EnvironmentSources = Map<string, string>;

type Target = 'value' | 'list' | 'item' | 'structure' | 'header' | 'ignored';

interface Resolution {
  path: string[];
  target: Target;
  /** For an item of a list: its position. */
  index?: number;
}

/**
 * Variables Kubernetes defines for Services named "registry" or "registry-*" (REGISTRY_SERVICE_HOST,
 * REGISTRY_UI_PORT_80_TCP, ...). When they name no setting they are ignored rather than refused, so
 * the registry starts in any namespace.
 */
const kubernetesServiceLink =
  /^REGISTRY_(?:[A-Z0-9_]+_)?(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)?)$/;

/**
 * Variables of other tools that share the prefix: Podman, Skopeo and Buildah read their credentials
 * file from REGISTRY_AUTH_FILE, which their users often export in the shell that starts Wharf too.
 */
const otherToolsVariables: Readonly<Record<string, string>> = {
  REGISTRY_AUTH_FILE: 'the credentials file of Podman, Skopeo and Buildah',
};

const headerMapPath = 'http.headers';

/**
 * Applies `REGISTRY_<PATH>` variables to the tree, as Distribution does: path components upper-cased
 * and joined by `_`, values read as YAML. Variables are applied in name order, so REGISTRY_STORAGE
 * (a whole section) comes before REGISTRY_STORAGE_DELETE_ENABLED. A variable naming no known key is
 * an error.
 */
export function applyEnvironment(
  tree: RawMap,
  env: Record<string, string | undefined>,
): { sources: EnvironmentSources; warnings: string[] } {
  const sources: EnvironmentSources = new Map();
  const warnings: string[] = [];
  const problems: string[] = [];
  const names = Object.keys(env)
    .filter((name) => name.startsWith(environmentPrefix) && env[name] !== undefined)
    .sort(byNameAndNumber);
  for (const name of names) {
    const value = env[name] ?? '';
    const resolution = resolveVariable(name);
    if (typeof resolution === 'string' && kubernetesServiceLink.test(name)) {
      warnings.push(`${name}: ignored; it looks like a Kubernetes service link variable, not a setting`);
      continue;
    }
    const otherTool = otherToolsVariables[name];
    if (typeof resolution === 'string' && otherTool !== undefined) {
      warnings.push(`${name}: ignored; it names ${otherTool}, not a setting`);
      continue;
    }
    if (typeof resolution === 'string') {
      problems.push(`${name}: ${resolution}`);
      continue;
    }
    const parsed = parseValue(value, resolution.target);
    if (parsed instanceof Error) {
      problems.push(`${name}: invalid YAML value: ${parsed.message.split('\n')[0]}`);
      continue;
    }
    if (resolution.target === 'item') {
      // An empty value means "not set", as for any other key.
      if (parsed === null) continue;
      const problem = setListItem(tree, resolution.path, resolution.index ?? 0, parsed);
      if (problem !== undefined) problems.push(`${name}: ${problem}`);
      else sources.set([...resolution.path, String(resolution.index)].join('.'), name);
      continue;
    }
    if (resolution.target === 'header') resolution.path = headerPath(tree, resolution.path);
    setAt(tree, resolution.path, parsed);
    sources.set(resolution.path.join('.'), name);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { sources, warnings };
}

/** The key path a variable names, or why it names none. */
function resolveVariable(name: string): Resolution | string {
  const components = name.slice(environmentPrefix.length).split('_');
  if (components.some((component) => component === '')) return 'empty key name (two underscores in a row?)';
  const path: string[] = [];
  let rest = components;
  while (rest.length > 0) {
    const here = path.join('.');
    if (here === headerMapPath) {
      return { path: [...path, headerName(rest)], target: 'header' };
    }
    if (isListAt(path)) return listItem(path, rest);
    const schema = schemaAt(path);
    const node = schema === undefined ? undefined : unwrapSchema(schema);
    if (node instanceof z.ZodRecord) {
      // Distribution lower-cases the keys of free-form mappings such as log.fields.
      return { path: [...path, rest.join('_').toLowerCase()], target: 'value' };
    }
    if (!(node instanceof z.ZodObject)) {
      return `${here} is a single value; it has no key ${JSON.stringify(rest.join('_').toLowerCase())}`;
    }
    const candidates = knownKeysAt(path);
    const match = longestKeyMatch(rest, candidates);
    if (match === undefined) return unknownKey(path, rest, candidates);
    path.push(match.key);
    rest = rest.slice(match.length);
    const full = path.join('.');
    if (isUnimplementedDistributionKey(full)) {
      return { path: [...path, ...rest.map((component) => component.toLowerCase())], target: 'ignored' };
    }
    if (translatedDistributionKeys.includes(full)) {
      if (rest.length > 0)
        return `${full} is a single value; it has no key ${JSON.stringify(rest.join('_').toLowerCase())}`;
      return { path, target: 'value' };
    }
  }
  if (isListAt(path)) return { path, target: 'list' };
  const schema = schemaAt(path);
  const node = schema === undefined ? undefined : unwrapSchema(schema);
  // A list of mappings (notifications.endpoints) is set whole, as YAML.
  const structured =
    node instanceof z.ZodObject ||
    node instanceof z.ZodRecord ||
    node instanceof z.ZodArray ||
    path.join('.') === headerMapPath;
  return { path, target: structured ? 'structure' : 'value' };
}

/** `REGISTRY_HTTP_TLS_CLIENTCAS_0`: an item of a list, by position, as in Distribution. */
function listItem(path: string[], rest: string[]): Resolution | string {
  const [position] = rest;
  if (rest.length === 1 && position !== undefined && /^\d{1,4}$/.test(position)) {
    return { path, target: 'item', index: Number(position) };
  }
  const variable = `${environmentPrefix}${path.join('_').toUpperCase()}`;
  return `${path.join('.')} is a list; ${variable} sets all of it and ${variable}_0, ${variable}_1, ... its items`;
}

/**
 * Replaces the item at `index`, or appends it when `index` is the length of the list; a gap is an
 * error, as in Distribution.
 */
function setListItem(tree: RawMap, path: string[], index: number, value: RawValue): string | undefined {
  const current = getAt(tree, path);
  const list: RawValue[] = Array.isArray(current) ? [...current] : typeof current === 'string' ? [current] : [];
  if (index > list.length) {
    const count = list.length === 1 ? '1 item' : `${list.length} items`;
    return `${path.join('.')} has ${count}; set ${environmentPrefix}${path.join('_').toUpperCase()}_${list.length} first`;
  }
  list[index] = value;
  setAt(tree, path, list);
  return undefined;
}

/** Name order, with numbers in order of value: `_2` before `_10`, so list items apply in order. */
function byNameAndNumber(left: string, right: string): number {
  const padded = (name: string) => name.replace(/\d+/g, (digits) => digits.padStart(12, '0'));
  const [a, b] = [padded(left), padded(right)];
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Keys never contain `_` in Distribution's own sections, but some driver options do; try the longest first. */
function longestKeyMatch(components: string[], candidates: string[]): { key: string; length: number } | undefined {
  for (let length = components.length; length > 0; length--) {
    const wanted = components.slice(0, length).join('_').toLowerCase();
    const key = candidates.find((candidate) => candidate.toLowerCase() === wanted);
    if (key !== undefined) return { key, length };
  }
  return undefined;
}

function unknownKey(path: string[], rest: string[], candidates: string[]): string {
  const wanted = (rest[0] ?? '').toLowerCase();
  const where = path.length === 0 ? 'there is no top-level key' : `${path.join('.')} has no key`;
  const suggestion = closestKey(wanted, candidates);
  const hint =
    suggestion === undefined
      ? ''
      : ` (did you mean ${environmentPrefix}${[...path, suggestion].join('_').toUpperCase()}?)`;
  return `${where} ${JSON.stringify(wanted)}${hint}`;
}

/** `X_FRAME_OPTIONS` → `X-Frame-Options`: variable names cannot hold `-`, header names rarely hold `_`. */
function headerName(components: string[]): string {
  return components
    .join('-')
    .split('-')
    .map((word) => (word === '' ? word : word[0]?.toUpperCase() + word.slice(1).toLowerCase()))
    .join('-');
}

function parseValue(text: string, target: Target): RawValue | Error {
  let parsed: RawValue;
  try {
    parsed = parse(text, yamlParseOptions) as RawValue;
  } catch (error) {
    // A single value that is not valid YAML (a secret starting with `@` or `*`) is taken as written.
    if (target !== 'structure') return text;
    return error instanceof Error ? error : new Error(String(error));
  }
  if (parsed === undefined) return null;
  if ((target === 'value' || target === 'item') && (Array.isArray(parsed) || isRawMap(parsed))) return text;
  // A list variable holds a YAML list, or a single item (which may itself contain ": ").
  if (target === 'list' && isRawMap(parsed)) return text;
  if (target === 'header' && isRawMap(parsed)) return text;
  return parsed;
}

/**
 * Where a header variable goes: over an existing header of the same name, whatever its spelling in
 * the file, and beside the default headers when the file sets none.
 */
function headerPath(tree: RawMap, path: string[]): string[] {
  const mapPath = path.slice(0, -1);
  const name = path.at(-1) ?? '';
  let headers = getAt(tree, mapPath);
  if (!isRawMap(headers)) {
    headers = structuredClone(defaultHttpHeaders) as RawMap;
    setAt(tree, mapPath, headers);
  }
  const existing = Object.keys(headers).find((key) => key.toLowerCase() === name.toLowerCase());
  return [...mapPath, existing ?? name];
}
