import { isAnonymous, type Principal } from '../../auth/principal.ts';
import { isRobot, memberIdentityOf } from '../../auth/projects/principal-kind.ts';
import { highestRole, type ProjectCapability, type ProjectRole, roleAllows } from '../../auth/projects/roles.ts';
import type { ProjectRecord, ProjectStore } from '../../metadata/project-store.ts';
import type { RegistryError } from '../../oci/errors.ts';
import { forbidden, notFound } from './api-errors.ts';

/** A project as one caller stands in it. */
export interface ProjectView {
  project: ProjectRecord;
  /** The caller's highest role, directly or through a group; undefined for non-members. */
  role: ProjectRole | undefined;
}

const capabilityWords: Record<ProjectCapability, string> = {
  'project:update': 'change',
  'project:delete': 'delete',
  'member:list': 'see the members of',
  'member:manage': 'manage the members of',
  'robot:list': 'see the robot accounts of',
  'robot:manage': 'manage the robot accounts of',
};

/**
 * Which projects a caller of the management API may see and change. A project the caller may not
 * see answers as if it did not exist (401 for an anonymous caller, who may have credentials), so
 * private project names do not leak.
 */
export class ProjectAccess {
  constructor(
    private readonly projects: ProjectStore,
    private readonly unauthorized: (message: string) => RegistryError,
  ) {}

  async view(principal: Principal, name: string): Promise<ProjectView> {
    const project = await this.projects.findProject(name);
    const standing = project && (await this.projects.standings([name], memberIdentityOf(principal))).get(name);
    const role = standing && highestRole(standing.roles);
    if (project && (project.public || principal.admin || role !== undefined || robotMayUse(principal, name))) {
      return { project, role };
    }
    if (isAnonymous(principal)) throw this.unauthorized(`authentication required to see project ${name}`);
    throw notFound(`project ${name} does not exist`);
  }

  /** The project, when the caller may do this to it; 403 DENIED naming what it may not do. */
  async require(principal: Principal, name: string, capability: ProjectCapability): Promise<ProjectView> {
    const view = await this.view(principal, name);
    if (principal.admin || roleAllows(view.role, capability)) return view;
    if (isAnonymous(principal))
      throw this.unauthorized(`authentication required to ${capabilityWords[capability]} project ${name}`);
    throw forbidden(`you may not ${capabilityWords[capability]} project ${name}`);
  }
}

/** A robot sees the projects its permissions name. */
export function robotMayUse(principal: Principal, project: string): boolean {
  if (!isRobot(principal)) return false;
  return (principal.permissions ?? []).some(
    (permission) => permission.project === project || permission.project === '*',
  );
}
