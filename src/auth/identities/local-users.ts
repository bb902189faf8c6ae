import type { IdentityStore, UserRow } from '../../metadata/identity-store.ts';
import { IdentityError } from './identity-error.ts';
import { hashPassword, needsRehash, spendVerificationTime, verifyPassword } from './passwords.ts';
import { validateUsername } from './usernames.ts';

/** A user as the rest of the registry sees it: never a hash. */
export interface LocalUser {
  id: number;
  username: string;
  email: string | null;
  admin: boolean;
  disabled: boolean;
  /** `local`, or the identity provider that created the account (`oidc`). */
  source: string;
  /** Whether the user can sign in here with a password. */
  hasPassword: boolean;
  createdAt: number;
  updatedAt: number;
  passwordChangedAt: number | null;
}

export interface NewLocalUser {
  username: string;
  password: string;
  email?: string | null;
  admin?: boolean;
}

export interface LocalUserChanges {
  email?: string | null;
  admin?: boolean;
  disabled?: boolean;
  password?: string;
}

/** The outcome of checking a password; `absent` when there is no such user or it has no password. */
export type SecretCheck =
  | { outcome: 'valid'; user: LocalUser }
  | { outcome: 'invalid'; user: LocalUser }
  | { outcome: 'absent' };

export const minimumPasswordLength = 8;
const maximumPasswordLength = 1024;

/**
 * Users kept in the metadata database: argon2id password hashes (bcrypt hashes of imported users
 * are accepted and upgraded at the next login), administrators, disabled accounts. Users who sign
 * in through OIDC have rows here too (source `oidc`, no password; their CLI secret is the OIDC
 * store's business), so the two kinds share one namespace and one admin and disabled flag.
 */
export class LocalUsers {
  constructor(
    private readonly store: IdentityStore,
    private readonly now: () => number = Date.now,
  ) {}

  async create(input: NewLocalUser): Promise<LocalUser> {
    validateUsername(input.username);
    validatePassword(input.password);
    const email = normaliseEmail(input.email);
    const time = this.now();
    const inserted = await this.store.insertUser({
      username: input.username,
      password_hash: await hashPassword(input.password),
      email,
      admin: input.admin ? 1 : 0,
      disabled: 0,
      source: 'local',
      cli_secret_hash: null,
      created_at: time,
      updated_at: time,
      password_changed_at: time,
    });
    if (!inserted) throw new IdentityError('exists', `user "${input.username}" already exists`);
    return this.get(input.username);
  }

  async find(username: string): Promise<LocalUser | undefined> {
    const row = await this.store.findUser(username);
    return row && toLocalUser(row);
  }

  async get(username: string): Promise<LocalUser> {
    const user = await this.find(username);
    if (!user) throw notFound(username);
    return user;
  }

  async list(): Promise<LocalUser[]> {
    return (await this.store.listUsers()).map(toLocalUser);
  }

  async count(): Promise<number> {
    return this.store.countUsers();
  }

  /**
   * Changes a user. Refuses to take away the last enabled administrator (by demoting or disabling
   * it), so the registry can always be administered.
   */
  async update(username: string, changes: LocalUserChanges): Promise<LocalUser> {
    const current = await this.get(username);
    const losesAdmin = current.admin && !current.disabled && (changes.admin === false || changes.disabled === true);
    if (losesAdmin && (await this.store.countEnabledAdmins()) <= 1) {
      throw new IdentityError('conflict', `"${username}" is the last enabled administrator`);
    }
    const time = this.now();
    const row: Parameters<IdentityStore['updateUser']>[1] = { updated_at: time };
    if (changes.email !== undefined) row.email = normaliseEmail(changes.email);
    if (changes.admin !== undefined) row.admin = changes.admin ? 1 : 0;
    if (changes.disabled !== undefined) row.disabled = changes.disabled ? 1 : 0;
    if (changes.password !== undefined) {
      if (current.source !== 'local') {
        throw new IdentityError(
          'invalid',
          `the password of ${current.source} user "${username}" is managed by its identity provider`,
        );
      }
      validatePassword(changes.password);
      row.password_hash = await hashPassword(changes.password);
      row.password_changed_at = time;
    }
    if (!(await this.store.updateUser(username, row))) throw notFound(username);
    return this.get(username);
  }

  async setPassword(username: string, password: string): Promise<LocalUser> {
    return this.update(username, { password });
  }

  async remove(username: string): Promise<void> {
    const current = await this.get(username);
    if (current.admin && !current.disabled && (await this.store.countEnabledAdmins()) <= 1) {
      throw new IdentityError('conflict', `"${username}" is the last enabled administrator`);
    }
    if (!(await this.store.deleteUser(username))) throw notFound(username);
  }

  /**
   * Checks a user's password in constant time per hash; a missing user or one without a password
   * spends the time of a real check before answering `absent`.
   */
  async verifyPassword(username: string, password: string): Promise<SecretCheck> {
    const row = await this.store.findUser(username);
    if (!row?.password_hash) {
      await spendVerificationTime(password, 'argon2');
      return { outcome: 'absent' };
    }
    if (!(await verifyPassword(row.password_hash, password))) return { outcome: 'invalid', user: toLocalUser(row) };
    if (needsRehash(row.password_hash)) {
      // Upgrades bcrypt (imported) and older argon2 parameters while the password is at hand.
      await this.store.updateUser(username, { password_hash: await hashPassword(password) });
    }
    return { outcome: 'valid', user: toLocalUser(row) };
  }
}

export function validatePassword(password: string): void {
  if (password.length < minimumPasswordLength) {
    throw new IdentityError('invalid', `a password must have at least ${minimumPasswordLength} characters`);
  }
  if (password.length > maximumPasswordLength) {
    throw new IdentityError('invalid', `a password must have at most ${maximumPasswordLength} characters`);
  }
}

function normaliseEmail(email: string | null | undefined): string | null {
  if (email === undefined || email === null || email.trim() === '') return null;
  const trimmed = email.trim();
  if (trimmed.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(trimmed)) {
    throw new IdentityError('invalid', `invalid email address "${trimmed.slice(0, 80)}"`);
  }
  return trimmed;
}

function notFound(username: string): IdentityError {
  return new IdentityError('not-found', `user "${username.slice(0, 80)}" not found`);
}

function toLocalUser(row: UserRow): LocalUser {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    admin: row.admin === 1,
    disabled: row.disabled === 1,
    source: row.source,
    hasPassword: row.password_hash !== null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    passwordChangedAt: row.password_changed_at,
  };
}
