import { isProjectName } from '../projects/project-name.ts';
import { IdentityError } from './identity-error.ts';
import { printable, robotPrefix } from './usernames.ts';

/** A robot's own name: one repository path component, at most 64 characters. */
const robotNameGrammar = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

/** `robot$team+ci` for a robot of the project `team`, `robot$ci` for a system robot. */
export function fullRobotName(project: string | null, name: string): string {
  return project === null ? `${robotPrefix}${name}` : `${robotPrefix}${project}+${name}`;
}

export function validateRobotName(project: string | null, name: string): void {
  if (name.length > 64 || !robotNameGrammar.test(name)) {
    throw new IdentityError(
      'invalid',
      `invalid robot name "${printable(name)}": use up to 64 lower-case letters and digits, separated by ".", "_" or "-"`,
    );
  }
  if (project !== null && !isProjectName(project)) {
    throw new IdentityError('invalid', `invalid project name "${printable(project)}"`);
  }
}

export function isRobotName(username: string): boolean {
  return username.startsWith(robotPrefix);
}
