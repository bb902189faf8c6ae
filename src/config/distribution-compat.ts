import { storageSettingKeys, unimplementedDistributionKeys } from './distribution-keys.ts';
import { deleteAt, getAt, isRawMap, type RawMap, setAt } from './raw-tree.ts';

/** Where a key came from, for messages: ` (config.yml:12)`, ` (set by REGISTRY_AUTH)` or ''. */
export type Origin = (path: readonly string[]) => string;

/**
 * Rewrites what Distribution accepts but Wharf spells or handles differently, and takes out the
 * Distribution keys Wharf does not implement, each with a warning. Problems are errors Distribution
 * would also refuse to start with.
 */
export function applyDistributionCompatibility(
  tree: RawMap,
  origin: Origin,
): { warnings: string[]; problems: string[] } {
  const warnings: string[] = [];
  const problems: string[] = [];

  moveDeprecated(tree, ['loglevel'], ['log', 'level'], origin, warnings);
  moveDeprecated(tree, ['storage', 'cache', 'layerinfo'], ['storage', 'cache', 'blobdescriptor'], origin, warnings);

  if (getAt(tree, ['log', 'formatter']) === 'logstash') {
    setAt(tree, ['log', 'formatter'], 'json');
    warnings.push(`log.formatter: logstash is not supported; json is used instead${origin(['log', 'formatter'])}`);
  }

  const network = getAt(tree, ['http', 'net']);
  if (network === 'unix') {
    warnings.push(
      `http.net: unix sockets are not supported yet; http.addr must be a TCP address${origin(['http', 'net'])}`,
    );
  } else if (
    network !== undefined &&
    network !== null &&
    network !== '' &&
    !['tcp', 'tcp4', 'tcp6'].includes(String(network))
  ) {
    problems.push(`http.net: expected "tcp" or "unix", got ${JSON.stringify(network)}${origin(['http', 'net'])}`);
  }
  deleteAt(tree, ['http', 'net']);

  // Distribution also accepts `storage: NAME` for a driver without parameters.
  const storage = getAt(tree, ['storage']);
  if (typeof storage === 'string') setAt(tree, ['storage'], { [storage]: null });
  const storageMap = getAt(tree, ['storage']);
  if (isRawMap(storageMap)) {
    const drivers = Object.keys(storageMap).filter((key) => !storageSettingKeys.has(key));
    if (drivers.length > 1) {
      problems.push(
        `storage: exactly one storage driver may be configured, found ${drivers.join(', ')}${origin(['storage'])}`,
      );
    }
  }

  for (const [key, note] of Object.entries(unimplementedDistributionKeys)) {
    const path = key.split('.');
    if (getAt(tree, path) === undefined) continue;
    const consequence = note === '' ? '' : `; ${note}`;
    warnings.push(`${key}: not implemented by Wharf yet and ignored${consequence}${origin(path)}`);
    deleteAt(tree, path);
  }
  return { warnings, problems };
}

function moveDeprecated(tree: RawMap, from: string[], to: string[], origin: Origin, warnings: string[]): void {
  const value = getAt(tree, from);
  if (value === undefined) return;
  const current = getAt(tree, to);
  if (current === undefined || current === null) setAt(tree, to, value);
  warnings.push(`${from.join('.')} is deprecated; use ${to.join('.')}${origin(from)}`);
  deleteAt(tree, from);
}
