/**
 * A sign-in that cannot complete. `status` is what the browser gets: 400 for a bad or replayed
 * callback, 403 for an identity Wharf refuses, 502 when the identity provider cannot be reached.
 * The message is shown to the user, so it names no secret.
 */
export class OidcLoginError extends Error {
  constructor(
    readonly status: 400 | 403 | 502,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OidcLoginError';
  }
}
