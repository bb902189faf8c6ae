import { RegistryError } from '../../oci/errors.ts';
import { parseRepositoryName } from '../../oci/reference.ts';

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'referrers'; name: string; digest: string };

export type RouteKind = Route['kind'];

// A repository name may contain slashes, so each endpoint is matched from its fixed suffix; the
// greedy name group then holds everything before it and is validated on its own.
const patterns: Array<[RegExp, (match: RegExpExecArray) => Route]> = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

/** Methods each endpoint answers; anything else is 405 UNSUPPORTED. */
export const allowedMethods: Record<RouteKind, readonly string[]> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET'],
  tags: ['GET'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD', 'DELETE'],
  uploads: ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE'],
  referrers: ['GET'],
};

/** Matches a raw request path (no query). Undefined when it is no distribution endpoint. */
export function matchRoute(path: string): Route | undefined {
  for (const [pattern, build] of patterns) {
    const match = pattern.exec(path);
    if (!match) continue;
    const route = build(match);
    if ('name' in route) parseRepositoryName(route.name);
    return route;
  }
  if (path.startsWith('/v2/')) {
    // A path under /v2/ that names no endpoint: the name part may still be malformed.
    return undefined;
  }
  return undefined;
}

export function assertMethod(route: Route, method: string): void {
  if (!allowedMethods[route.kind].includes(method)) {
    throw new RegistryError('UNSUPPORTED', `${method} is not supported on this endpoint`, {
      headers: { Allow: allowedMethods[route.kind].join(', ') },
    });
  }
}
