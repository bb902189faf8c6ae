import type { IdentityStore, RobotRow } from '../../metadata/identity-store.ts';
import type { ProjectPermission } from '../principal.ts';
import { isProjectName } from '../projects/project-name.ts';
import type { RobotDirectory } from '../projects/robot-directory.ts';
import { IdentityError } from './identity-error.ts';
import { hashPassword, randomSecret, spendVerificationTime, verifyPassword } from './passwords.ts';
import { fullRobotName, validateRobotName } from './robot-names.ts';
import { printable } from './usernames.ts';

/** A robot account as the rest of the registry sees it: never its secret or hash. */
export interface RobotAccount {
  id: number;
  /** The full name the robot logs in with: `robot$team+ci` or `robot$ci`. */
  name: string;
  /** The project the robot belongs to; null for a system robot. */
  project: string | null;
  description: string;
  permissions: ProjectPermission[];
  /** Epoch milliseconds; null for never. */
  expiresAt: number | null;
  disabled: boolean;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
}

export interface NewRobot {
  /** Null (or absent) for a system robot. */
  project?: string | null;
  /** The robot's own name, without `robot$` and project. */
  name: string;
  description?: string;
  permissions: readonly ProjectPermission[];
  expiresAt?: number | null;
  createdBy: string;
}

export interface RobotChanges {
  description?: string;
  permissions?: readonly ProjectPermission[];
  disabled?: boolean;
  expiresAt?: number | null;
}

export type RobotCheck =
  | { outcome: 'valid'; robot: RobotAccount }
  | { outcome: 'invalid'; robot: RobotAccount }
  | { outcome: 'absent' };

const robotActions = new Set(['pull', 'push', 'delete', '*']);
/** 256 bits of randomness in 43 URL-safe characters. */
const secretLength = 43;

/**
 * Robot accounts: machine identities with fixed permissions and a random secret that is returned
 * once, when created or rotated, and stored only as an argon2id hash.
 */
export class Robots implements RobotDirectory {
  constructor(
    private readonly store: IdentityStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates a robot; the secret in the answer is never available again. */
  async create(input: NewRobot): Promise<{ robot: RobotAccount; secret: string }> {
    const project = input.project ?? null;
    validateRobotName(project, input.name);
    const permissions = validatePermissions(project, input.permissions);
    const expiresAt = this.validateExpiry(input.expiresAt ?? null);
    const name = fullRobotName(project, input.name);
    const secret = randomSecret(secretLength);
    const time = this.now();
    const inserted = await this.store.insertRobot({
      name,
      project,
      description: validateDescription(input.description ?? ''),
      secret_hash: await hashPassword(secret),
      permissions: JSON.stringify(permissions),
      expires_at: expiresAt,
      disabled: 0,
      created_at: time,
      created_by: input.createdBy,
      updated_at: time,
    });
    if (!inserted) throw new IdentityError('exists', `robot account "${name}" already exists`);
    return { robot: await this.get(name), secret };
  }

  async find(name: string): Promise<RobotAccount | undefined> {
    const row = await this.store.findRobot(name);
    return row && toRobotAccount(row);
  }

  async get(name: string): Promise<RobotAccount> {
    const robot = await this.find(name);
    if (!robot) throw notFound(name);
    return robot;
  }

  /** The robots of a project; system robots for `null`; every robot when undefined. */
  async list(project?: string | null): Promise<RobotAccount[]> {
    return (await this.store.listRobots(project)).map(toRobotAccount);
  }

  async update(name: string, changes: RobotChanges): Promise<RobotAccount> {
    const current = await this.get(name);
    const row: Parameters<IdentityStore['updateRobot']>[1] = { updated_at: this.now() };
    if (changes.description !== undefined) row.description = validateDescription(changes.description);
    if (changes.permissions !== undefined) {
      row.permissions = JSON.stringify(validatePermissions(current.project, changes.permissions));
    }
    if (changes.disabled !== undefined) row.disabled = changes.disabled ? 1 : 0;
    if (changes.expiresAt !== undefined) row.expires_at = this.validateExpiry(changes.expiresAt);
    if (!(await this.store.updateRobot(name, row))) throw notFound(name);
    return this.get(name);
  }

  /** Replaces the secret; the old one stops working at once. Returns the new one, shown once. */
  async rotateSecret(name: string): Promise<string> {
    const secret = randomSecret(secretLength);
    const changed = await this.store.updateRobot(name, {
      secret_hash: await hashPassword(secret),
      updated_at: this.now(),
    });
    if (!changed) throw notFound(name);
    return secret;
  }

  /** Deletes a robot; false when there was none of that name. */
  async delete(name: string): Promise<boolean> {
    return this.store.deleteRobot(name);
  }

  /** Removes the robots of a project that is being deleted. */
  async deleteProjectRobots(project: string): Promise<number> {
    return this.store.deleteProjectRobots(project);
  }

  /** Checks a secret; an unknown robot spends the time of a real check before answering `absent`. */
  async verifySecret(name: string, secret: string): Promise<RobotCheck> {
    const row = await this.store.findRobot(name);
    if (!row) {
      await spendVerificationTime(secret, 'argon2');
      return { outcome: 'absent' };
    }
    const valid = await verifyPassword(row.secret_hash, secret);
    return { outcome: valid ? 'valid' : 'invalid', robot: toRobotAccount(row) };
  }

  /**
   * The robot with a value that changes whenever its secret does (the stored hash), so that a
   * sign-in bound to the secret ends when it is rotated.
   */
  async findWithSecretStamp(name: string): Promise<{ robot: RobotAccount; secretStamp: string } | undefined> {
    const row = await this.store.findRobot(name);
    return row && { robot: toRobotAccount(row), secretStamp: row.secret_hash };
  }

  isExpired(robot: RobotAccount): boolean {
    return robot.expiresAt !== null && robot.expiresAt <= this.now();
  }

  private validateExpiry(expiresAt: number | null): number | null {
    if (expiresAt === null) return null;
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= this.now()) {
      throw new IdentityError('invalid', 'the expiry must be a time in the future (epoch milliseconds) or null');
    }
    return expiresAt;
  }
}

/**
 * Permissions are per project; a project robot may only hold permissions on its own project, a
 * system robot on any project or `*` (every project). Actions are the repository actions or `*`.
 */
export function validatePermissions(
  project: string | null,
  permissions: readonly ProjectPermission[],
): ProjectPermission[] {
  const merged = new Map<string, Set<string>>();
  for (const permission of permissions) {
    const target = permission.project;
    if (project !== null && target !== project) {
      throw new IdentityError(
        'invalid',
        `a robot of project "${project}" cannot hold permissions on "${printable(target)}"`,
      );
    }
    if (target !== '*' && !isProjectName(target)) {
      throw new IdentityError('invalid', `invalid project name "${printable(target)}" in permissions`);
    }
    if (permission.actions.length === 0) {
      throw new IdentityError('invalid', `no actions given for project "${target}"`);
    }
    const actions = merged.get(target) ?? new Set<string>();
    for (const action of permission.actions) {
      if (!robotActions.has(action)) {
        throw new IdentityError('invalid', `unknown action "${printable(action)}": use pull, push, delete or *`);
      }
      actions.add(action);
    }
    merged.set(target, actions);
  }
  return [...merged].map(([target, actions]) => ({ project: target, actions: [...actions] }));
}

function validateDescription(description: string): string {
  if (description.length > 1024) throw new IdentityError('invalid', 'a description must have at most 1024 characters');
  return description;
}

function notFound(name: string): IdentityError {
  return new IdentityError('not-found', `robot account "${printable(name)}" not found`);
}

function toRobotAccount(row: RobotRow): RobotAccount {
  return {
    id: row.id,
    name: row.name,
    project: row.project,
    description: row.description,
    permissions: parsePermissions(row.permissions),
    expiresAt: row.expires_at,
    disabled: row.disabled === 1,
    createdAt: row.created_at,
    createdBy: row.created_by,
    updatedAt: row.updated_at,
  };
}

/** Stored JSON is ours, but a hand-edited row must grant nothing rather than crash a login. */
function parsePermissions(json: string): ProjectPermission[] {
  try {
    const value: unknown = JSON.parse(json);
    if (!Array.isArray(value)) return [];
    return value.flatMap((entry: unknown) => {
      if (typeof entry !== 'object' || entry === null) return [];
      const { project, actions } = entry as { project?: unknown; actions?: unknown };
      if (typeof project !== 'string' || !Array.isArray(actions)) return [];
      return [{ project, actions: actions.filter((action): action is string => typeof action === 'string') }];
    });
  } catch {
    return [];
  }
}
