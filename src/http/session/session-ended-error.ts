import { RegistryError } from '../../oci/errors.ts';
import { clearSessionCookie } from './session-cookie.ts';

/**
 * A valid session cookie whose account is gone, disabled, expired or has a new password: 401 like
 * any refused credential, without a challenge (a browser would open its own password dialog), and
 * clearing the cookie so the next page load is signed out.
 */
export class SessionEndedError extends RegistryError {
  constructor(secure: boolean) {
    super('UNAUTHORIZED', 'the sign-in is no longer valid; sign in again', {
      headers: { 'Set-Cookie': clearSessionCookie(secure) },
    });
    this.name = 'SessionEndedError';
  }
}
