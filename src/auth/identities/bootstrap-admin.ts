import { isIdentityError } from './identity-error.ts';
import type { LocalUsers } from './local-users.ts';
import { randomSecret } from './passwords.ts';

export const firstAdminUsername = 'admin';

export type BootstrapResult =
  | { created: false }
  /** `password` is set only when it was generated: it exists nowhere else and is shown once. */
  | { created: true; username: string; passwordSource: 'config' | 'environment' | 'generated'; password?: string };

/**
 * On a database without users, creates the administrator `admin` with the password from
 * `auth.admin.password`, else from WHARF_ADMIN_PASSWORD, else a generated one that the caller
 * prints once. Instances starting together race harmlessly: one inserts, the others see a user.
 */
export async function bootstrapAdmin(
  users: LocalUsers,
  options: { configuredPassword?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<BootstrapResult> {
  if ((await users.count()) > 0) return { created: false };
  const fromEnvironment = options.env?.WHARF_ADMIN_PASSWORD;
  const [password, passwordSource] =
    options.configuredPassword !== undefined && options.configuredPassword !== ''
      ? [options.configuredPassword, 'config' as const]
      : fromEnvironment !== undefined && fromEnvironment !== ''
        ? [fromEnvironment, 'environment' as const]
        : [randomSecret(32), 'generated' as const];
  try {
    await users.create({ username: firstAdminUsername, password, admin: true });
  } catch (error) {
    if (isIdentityError(error) && error.kind === 'exists') return { created: false };
    if (isIdentityError(error) && error.kind === 'invalid') {
      const origin = passwordSource === 'config' ? 'auth.admin.password' : 'WHARF_ADMIN_PASSWORD';
      throw new Error(`${origin}: ${error.message}`);
    }
    throw error;
  }
  return passwordSource === 'generated'
    ? { created: true, username: firstAdminUsername, passwordSource, password }
    : { created: true, username: firstAdminUsername, passwordSource };
}
