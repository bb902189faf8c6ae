import type { MemberRole } from '../../metadata/project-store.ts';
import type { RepositoryAction } from '../access.ts';

export type ProjectRole = MemberRole;

/** Harbor's built-in project roles, from most to least privileged. */
export const projectRoles: readonly ProjectRole[] = [
  'projectAdmin',
  'maintainer',
  'developer',
  'guest',
  'limitedGuest',
];

export function isProjectRole(value: string): value is ProjectRole {
  return (projectRoles as readonly string[]).includes(value);
}

/** The more privileged of the roles; undefined for none. */
export function highestRole(roles: Iterable<ProjectRole>): ProjectRole | undefined {
  let best: ProjectRole | undefined;
  for (const role of roles) {
    if (best === undefined || projectRoles.indexOf(role) < projectRoles.indexOf(best)) best = role;
  }
  return best;
}

const repositoryActionsByRole: Record<ProjectRole, readonly RepositoryAction[]> = {
  projectAdmin: ['pull', 'push', 'delete'],
  maintainer: ['pull', 'push', 'delete'],
  developer: ['pull', 'push'],
  guest: ['pull'],
  limitedGuest: ['pull'],
};

export function repositoryActionsOf(role: ProjectRole): readonly RepositoryAction[] {
  return repositoryActionsByRole[role];
}

/** What a role may do to the project itself through the management API. */
export type ProjectCapability =
  | 'project:update'
  | 'project:delete'
  | 'member:list'
  | 'member:manage'
  | 'robot:list'
  | 'robot:manage';

// Harbor's matrix: only project admins manage; a limited guest sees neither members nor robots.
const capabilitiesByRole: Record<ProjectRole, readonly ProjectCapability[]> = {
  projectAdmin: ['project:update', 'project:delete', 'member:list', 'member:manage', 'robot:list', 'robot:manage'],
  maintainer: ['member:list', 'robot:list'],
  developer: ['member:list', 'robot:list'],
  guest: ['member:list', 'robot:list'],
  limitedGuest: [],
};

export function roleAllows(role: ProjectRole | undefined, capability: ProjectCapability): boolean {
  return role !== undefined && capabilitiesByRole[role].includes(capability);
}
