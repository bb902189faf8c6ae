import type { ProjectPermission } from '../principal.ts';

/** A robot account as the management API shows it: never its secret's hash. */
export interface RobotAccount {
  id: number;
  /** The full name a client logs in with: `robot$team+ci`, or `robot$deployer` for a system robot. */
  name: string;
  /** The project of a project robot; null for a system robot. */
  project: string | null;
  description: string;
  permissions: ProjectPermission[];
  disabled: boolean;
  createdAt: number;
  createdBy: string;
  /** Epoch milliseconds, or null for a robot that never expires. */
  expiresAt: number | null;
}

export interface NewRobotAccount {
  /** Null for a system robot. */
  project: string | null;
  /** The short name, `ci`; the directory derives the full name. */
  name: string;
  description: string;
  permissions: ProjectPermission[];
  expiresAt: number | null;
  createdBy: string;
}

export interface RobotAccountChanges {
  description?: string;
  permissions?: ProjectPermission[];
  disabled?: boolean;
  expiresAt?: number | null;
}

/**
 * Where robot accounts are kept. Methods that name a robot take its full name; failures are
 * IdentityErrors (`invalid`, `exists`, `not-found`).
 */
export interface RobotDirectory {
  /** Creates the robot with a fresh secret, returned this once and kept only as a hash. */
  create(robot: NewRobotAccount): Promise<{ robot: RobotAccount; secret: string }>;
  /** A project's robots, or the system robots for null. */
  list(project: string | null): Promise<RobotAccount[]>;
  find(name: string): Promise<RobotAccount | undefined>;
  update(name: string, changes: RobotAccountChanges): Promise<RobotAccount>;
  delete(name: string): Promise<boolean>;
  /** Replaces the secret; the new one is returned this once. */
  rotateSecret(name: string): Promise<string>;
  /** Removes a deleted project's robots. */
  deleteProjectRobots(project: string): Promise<number>;
}

/** `robot$team+ci` for a project robot, `robot$deployer` for a system robot (Harbor's names). */
export function robotAccountName(project: string | null, name: string): string {
  return project === null ? `robot$${name}` : `robot$${project}+${name}`;
}
