import { RegistryError } from '../../oci/errors.ts';

/**
 * The directory could not answer: connection refused, timeout, TLS failure, the service account's
 * bind refused, or an unexpected server error. A login that meets it fails with 503 instead of
 * falling through to the next authenticator: while LDAP is down, an htpasswd or local account
 * with the same name must not become a way in, and a user should not be locked out for failures
 * that are not theirs (no failed-login count is recorded for an error).
 */
export class DirectoryUnavailableError extends RegistryError {
  constructor(message: string, cause: unknown) {
    super('UNAVAILABLE', message);
    this.name = 'DirectoryUnavailableError';
    this.cause = cause;
  }
}
