import { IdentityError } from './identity-error.ts';

/** Robot accounts own this prefix; no user may take it. */
export const robotPrefix = 'robot$';

const usernamePattern = /^[a-z0-9._-]{1,64}$/;

/** Names the management API uses as path segments (`/api/v1/users/current`). */
const reservedUsernames = new Set(['current']);

/**
 * Local usernames: lower-case letters, digits, `.`, `_` and `-`, 1 to 64 characters. Lower case
 * only, so `Alice` and `alice` can never be two accounts.
 */
export function validateUsername(username: string): void {
  if (!usernamePattern.test(username)) {
    throw new IdentityError(
      'invalid',
      `invalid username "${printable(username)}": use 1 to 64 lower-case letters, digits, ".", "_" or "-"`,
    );
  }
  if (reservedUsernames.has(username)) throw new IdentityError('invalid', `the username "${username}" is reserved`);
}

/** A name safe to echo in a message: bounded, without control characters. */
export function printable(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this strips
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 80)}…` : clean;
}
