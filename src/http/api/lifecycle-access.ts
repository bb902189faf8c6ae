import type { Principal } from '../../auth/principal.ts';
import { isRobot } from '../../auth/projects/principal-kind.ts';
import { repositoryActionsOf } from '../../auth/projects/roles.ts';
import { forbidden } from './api-errors.ts';
import type { ProjectAccess, ProjectView } from './project-access.ts';

/** Project admins (and system administrators) manage a project's policies; robots never do. */
export async function requireProjectAdmin(
  access: ProjectAccess,
  principal: Principal,
  project: string,
  what: string,
): Promise<ProjectView> {
  const view = await access.view(principal, project);
  if (principal.admin || (!isRobot(principal) && view.role === 'projectAdmin')) return view;
  throw forbidden(`only project admins may ${what} of project ${project}`);
}

/** Who may delete manifests and tags through /v2/ (maintainers and project admins) may delete repositories. */
export async function requireRepositoryDelete(
  access: ProjectAccess,
  principal: Principal,
  project: string,
): Promise<ProjectView> {
  const view = await access.view(principal, project);
  if (principal.admin) return view;
  if (!isRobot(principal) && view.role !== undefined && repositoryActionsOf(view.role).includes('delete')) return view;
  throw forbidden(`you may not delete repositories of project ${project}`);
}

export function requireSystemAdmin(principal: Principal, what: string): void {
  if (!principal.admin) throw forbidden(`only system administrators may ${what}`);
}
