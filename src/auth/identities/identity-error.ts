/** Why an operation on users or robots was refused; the HTTP and CLI layers word it for their users. */
export type IdentityErrorKind = 'invalid' | 'exists' | 'not-found' | 'conflict';

export class IdentityError extends Error {
  constructor(
    readonly kind: IdentityErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}

export function isIdentityError(value: unknown): value is IdentityError {
  return value instanceof IdentityError;
}
