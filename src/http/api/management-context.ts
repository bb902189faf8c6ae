import type { ProjectAuthorizer } from '../../auth/projects/project-authorizer.ts';
import type { RobotDirectory } from '../../auth/projects/robot-directory.ts';
import type { ProjectStore } from '../../metadata/project-store.ts';
import type { ProjectAccess } from './project-access.ts';

/** The mount point of the management API. */
export const apiPrefix = '/api/v1';

/** What the management routes work with. */
export interface ManagementContext {
  projects: ProjectStore;
  authorizer: ProjectAuthorizer;
  access: ProjectAccess;
  /** Absent until robot accounts are available: the robot routes then answer 503. */
  robots: RobotDirectory | undefined;
  /** Told when a robot's secret, permissions or state change, so no cached login outlives them. */
  credentialsChanged(name: string): void;
  /** Absent: only a project without repositories may be deleted. */
  contents?: ProjectContents;
}

/** The repositories and policies of a project, for deleting it. */
export interface ProjectContents {
  /** Deletes every repository of the project as a user's delete does (an immutable tag refuses). */
  deleteRepositories(project: string): Promise<void>;
  /** Told once the project is gone, to drop what is kept about it by name. */
  projectDeleted(project: string): Promise<void>;
}
