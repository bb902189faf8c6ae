import type { ResourceAccess } from '../../auth/access.ts';
import type { Route } from './route-table.ts';

/**
 * What a distribution request needs, as Distribution's access controller asks it: reads need pull,
 * writes need pull and push (a push reads what it checks for), deletes need delete, the catalog
 * needs `registry:catalog:*`, and the base endpoint needs an authenticated caller only.
 */
export function requiredAccess(route: Route, method: string): ResourceAccess[] {
  if (route.kind === 'base') return [];
  if (route.kind === 'catalog') return [{ type: 'registry', name: 'catalog', actions: ['*'] }];
  const actions =
    method === 'GET' || method === 'HEAD'
      ? ['pull']
      : method === 'DELETE' && route.kind !== 'upload'
        ? ['delete']
        : ['pull', 'push'];
  return [{ type: 'repository', name: route.name, actions }];
}

export function needsPush(required: readonly ResourceAccess[]): boolean {
  return required.some((entry) => entry.type === 'repository' && entry.actions.includes('push'));
}
