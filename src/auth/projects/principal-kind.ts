import type { MemberIdentity } from '../../metadata/project-store.ts';
import { isAnonymous, type Principal } from '../principal.ts';

/**
 * A robot account: its fixed permissions are all it gets. A `robot$` name without permissions is
 * still a robot (one that may do nothing), never a user that memberships could widen.
 */
export function isRobot(principal: Principal): boolean {
  return principal.source === 'robot' || principal.permissions !== undefined || principal.name.startsWith('robot$');
}

/** Who the principal is as project memberships name members: users by name, plus their groups. */
export function memberIdentityOf(principal: Principal): MemberIdentity {
  if (isAnonymous(principal) || isRobot(principal)) return { user: undefined, groups: [] };
  return { user: principal.name, groups: principal.groups };
}
