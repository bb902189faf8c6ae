import type { z } from 'zod';
import { isIdentityError } from '../../auth/identities/identity-error.ts';
import { RegistryError } from '../../oci/errors.ts';

/**
 * The management API's refusals, as the registry's one error type: `{"errors":[{code,message,detail}]}`
 * like every other answer. The distribution-spec codes have no conflict or precondition code, so
 * those statuses carry DENIED (the request is refused as things stand) with the reason in the message.
 */
export function invalidInput(where: 'path' | 'query' | 'body', issues: readonly z.core.$ZodIssue[]): RegistryError {
  const detail = issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
  const described = detail.map((item) => (item.path === '' ? item.message : `${item.path}: ${item.message}`));
  const message = `invalid ${where === 'body' ? 'request body' : where === 'path' ? 'path' : 'query'}: ${described.join('; ')}`;
  if (where === 'path') return new RegistryError('NAME_INVALID', message, { detail });
  if (where === 'query' && detail.every((item) => item.path === 'page' || item.path === 'page_size')) {
    return new RegistryError('PAGINATION_NUMBER_INVALID', message, { detail });
  }
  return new RegistryError('UNSUPPORTED', message, { status: 400, detail });
}

export function notFound(message: string): RegistryError {
  return new RegistryError('NAME_UNKNOWN', message);
}

export function forbidden(message: string): RegistryError {
  return new RegistryError('DENIED', message);
}

/** 409: the resource exists already, or the change would break an invariant. */
export function conflict(message: string): RegistryError {
  return new RegistryError('DENIED', message, { status: 409 });
}

/** 412: the resource is not in a state that allows the operation. */
export function preconditionFailed(message: string): RegistryError {
  return new RegistryError('DENIED', message, { status: 412 });
}

export function unavailable(message: string): RegistryError {
  return new RegistryError('UNAVAILABLE', message);
}

/** Runs work on users or robots, turning its refusals (IdentityError) into the API's errors. */
export async function translateIdentityErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!isIdentityError(error)) throw error;
    switch (error.kind) {
      case 'invalid':
        throw new RegistryError('UNSUPPORTED', error.message, { status: 400 });
      case 'not-found':
        throw notFound(error.message);
      case 'exists':
      case 'conflict':
        throw conflict(error.message);
    }
  }
}
