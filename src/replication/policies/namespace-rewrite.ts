/**
 * The destination repository of a source repository, as Harbor rewrites it: without a namespace the
 * name is kept; with one, `replaceCount` leading path components are replaced by it (0: the
 * namespace is a prefix; -1: every component but the last, which flattens the tree).
 *
 * `library/app/web` with namespace `mirror`: 0 → `mirror/library/app/web`, 1 → `mirror/app/web`,
 * 2 → `mirror/web`, -1 → `mirror/web`.
 */
export function destinationRepository(source: string, namespace: string | undefined, replaceCount: number): string {
  if (namespace === undefined || namespace === '') return source;
  const components = source.split('/');
  if (replaceCount < 0) return `${namespace}/${components.at(-1)}`;
  if (replaceCount === 0) return `${namespace}/${source}`;
  if (replaceCount >= components.length) {
    throw new Error(
      `cannot replace ${replaceCount} path components of "${source}", which has ${components.length}: the last one is the image's name`,
    );
  }
  return `${namespace}/${components.slice(replaceCount).join('/')}`;
}
