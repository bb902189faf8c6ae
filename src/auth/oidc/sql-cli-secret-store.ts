import type { Kysely } from 'kysely';
import type { IdentityTables } from '../../metadata/identity-store.ts';
import type { Database } from '../../metadata/schema.ts';
import { cliSecretMatches, hashCliSecret } from './cli-secret.ts';
import type { CliSecretCheck, CliSecretStore } from './cli-secret-store.ts';
import type { OidcIdentity } from './oidc-identity.ts';
import { OidcLoginError } from './oidc-login-error.ts';

/** The table of migration 004-oidc. */
export type OidcTables = {
  oidc_users: {
    username: string;
    issuer: string;
    subject: string;
    /** JSON array of group names. */
    groups: string;
    /** 0/1: member of auth.oidc.admingroup at the last sign-in. */
    admin: number;
    secret_expires_at: number | null;
    created_at: number;
    last_login_at: number;
  };
};

type Tables = Database & IdentityTables & OidcTables;

export interface SqlCliSecretStoreOptions {
  /** How long a CLI secret stays valid after the sign-in that issued it; forever when unset. */
  secretLifetimeMs?: number;
  now?: () => number;
}

/**
 * OIDC users as rows of `users` (source `oidc`, no password, the CLI secret's hash) plus their
 * binding to the identity provider in `oidc_users`. Sharing `users` keeps one namespace: a local
 * user and an OIDC user can never have the same name. Admin is the identity provider's group
 * or the `users.admin` flag an administrator set; `users.disabled` stops the CLI secret.
 */
export class SqlCliSecretStore implements CliSecretStore {
  private readonly db: Kysely<Tables>;
  private readonly now: () => number;

  constructor(
    db: Kysely<Database>,
    private readonly options: SqlCliSecretStoreOptions = {},
  ) {
    this.db = db.withTables<IdentityTables & OidcTables>();
    this.now = options.now ?? Date.now;
  }

  async recordLogin(identity: OidcIdentity, secret: string): Promise<string> {
    const now = this.now();
    const lifetime = this.options.secretLifetimeMs;
    const link = {
      groups: JSON.stringify(identity.groups),
      admin: identity.admin ? 1 : 0,
      secret_expires_at: lifetime === undefined ? null : now + lifetime,
      last_login_at: now,
    };
    return await this.db.transaction().execute(async (trx) => {
      const bound = await trx
        .selectFrom('oidc_users')
        .innerJoin('users', 'users.username', 'oidc_users.username')
        .select(['users.username', 'users.disabled'])
        .where('oidc_users.issuer', '=', identity.issuer)
        .where('oidc_users.subject', '=', identity.subject)
        .executeTakeFirst();
      // The name chosen at the first sign-in stays: renaming at the identity provider must not
      // hand the account, its memberships and its pushes to another name.
      const username = bound?.username ?? identity.username;
      if (bound !== undefined) {
        if (Number(bound.disabled) === 1) throw new OidcLoginError(403, `the user "${username}" is disabled`);
        await trx.updateTable('oidc_users').set(link).where('username', '=', username).execute();
      } else {
        const taken = await trx
          .selectFrom('users')
          .select('source')
          .where('username', '=', username)
          .executeTakeFirst();
        if (taken !== undefined) {
          throw new OidcLoginError(403, `the user name "${username}" already belongs to another account`);
        }
        await trx
          .insertInto('users')
          .values({
            username,
            password_hash: null,
            email: identity.email ?? null,
            admin: 0,
            disabled: 0,
            source: 'oidc',
            cli_secret_hash: null,
            created_at: now,
            updated_at: now,
            password_changed_at: null,
          })
          .execute();
        await trx
          .insertInto('oidc_users')
          .values({ username, issuer: identity.issuer, subject: identity.subject, created_at: now, ...link })
          .execute();
      }
      await trx
        .updateTable('users')
        .set({ cli_secret_hash: hashCliSecret(secret), updated_at: now })
        .where('username', '=', username)
        .execute();
      return username;
    });
  }

  async verify(username: string, secret: string): Promise<CliSecretCheck> {
    const row = await this.db
      .selectFrom('oidc_users')
      .innerJoin('users', 'users.username', 'oidc_users.username')
      .select([
        'users.username',
        'users.disabled',
        'users.admin as localAdmin',
        'users.cli_secret_hash',
        'oidc_users.groups',
        'oidc_users.admin',
        'oidc_users.secret_expires_at',
      ])
      .where('oidc_users.username', '=', username)
      .executeTakeFirst();
    if (row === undefined) return { status: 'unknown' };
    if (row.cli_secret_hash === null || secret === '' || !cliSecretMatches(secret, row.cli_secret_hash)) {
      return { status: 'invalid', reason: 'invalid CLI secret' };
    }
    if (Number(row.disabled) === 1) return { status: 'invalid', reason: 'user disabled' };
    if (row.secret_expires_at !== null && Number(row.secret_expires_at) <= this.now()) {
      return { status: 'invalid', reason: 'CLI secret expired; sign in again to get a new one' };
    }
    return {
      status: 'valid',
      username: row.username,
      groups: parseGroups(row.groups),
      admin: Number(row.admin) === 1 || Number(row.localAdmin) === 1,
    };
  }
}

function parseGroups(json: string): string[] {
  const value: unknown = JSON.parse(json);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
