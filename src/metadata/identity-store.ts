import type { Generated, Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { Database } from './schema.ts';

/** The tables of migration 002-identities. Flags are 0/1; timestamps are epoch milliseconds. */
export type IdentityTables = {
  users: UsersTable;
  robots: RobotsTable;
};

export interface UsersTable {
  id: Generated<number>;
  username: string;
  /** argon2id (or bcrypt, for imported users); null for users who sign in elsewhere. */
  password_hash: string | null;
  email: string | null;
  admin: number;
  disabled: number;
  /** `local`, or the identity provider that created the row (`oidc`). */
  source: string;
  cli_secret_hash: string | null;
  created_at: number;
  updated_at: number;
  password_changed_at: number | null;
}

export interface RobotsTable {
  id: Generated<number>;
  /** The full name: `robot$project+name`, or `robot$name` for a system robot. */
  name: string;
  project: string | null;
  description: string;
  secret_hash: string;
  /** JSON: `[{"project":"team","actions":["pull","push"]}]`. */
  permissions: string;
  expires_at: number | null;
  disabled: number;
  created_at: number;
  created_by: string;
  updated_at: number;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserChanges = Updateable<UsersTable>;
export type RobotRow = Selectable<RobotsTable>;
export type NewRobotRow = Insertable<RobotsTable>;
export type RobotChanges = Updateable<RobotsTable>;

/**
 * Rows of users and robots, nothing more: hashing, grammar and rules live in auth/identities.
 */
export class IdentityStore {
  private readonly db: Kysely<Database & IdentityTables>;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<IdentityTables>();
  }

  async findUser(username: string): Promise<UserRow | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return row && normaliseUser(row);
  }

  async listUsers(): Promise<UserRow[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('username').execute();
    return rows.map(normaliseUser);
  }

  async countUsers(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async countEnabledAdmins(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where('admin', '=', 1)
      .where('disabled', '=', 0)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** Inserts a user; false when the username is taken. */
  async insertUser(row: NewUserRow): Promise<boolean> {
    const result = await this.db
      .insertInto('users')
      .values(row)
      .onConflict((conflict) => conflict.column('username').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Applies changes to one user; false when there is no such user. */
  async updateUser(username: string, changes: UserChanges): Promise<boolean> {
    const result = await this.db.updateTable('users').set(changes).where('username', '=', username).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteUser(username: string): Promise<boolean> {
    const result = await this.db.deleteFrom('users').where('username', '=', username).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async findRobot(name: string): Promise<RobotRow | undefined> {
    const row = await this.db.selectFrom('robots').selectAll().where('name', '=', name).executeTakeFirst();
    return row && normaliseRobot(row);
  }

  /** Robots of one project, or system robots when `project` is null; every robot when undefined. */
  async listRobots(project?: string | null): Promise<RobotRow[]> {
    let query = this.db.selectFrom('robots').selectAll().orderBy('name');
    if (project === null) query = query.where('project', 'is', null);
    else if (project !== undefined) query = query.where('project', '=', project);
    return (await query.execute()).map(normaliseRobot);
  }

  async insertRobot(row: NewRobotRow): Promise<boolean> {
    const result = await this.db
      .insertInto('robots')
      .values(row)
      .onConflict((conflict) => conflict.column('name').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async updateRobot(name: string, changes: RobotChanges): Promise<boolean> {
    const result = await this.db.updateTable('robots').set(changes).where('name', '=', name).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteRobot(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('robots').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async deleteProjectRobots(project: string): Promise<number> {
    const result = await this.db.deleteFrom('robots').where('project', '=', project).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

// PostgreSQL returns bigint columns as strings; both dialects read back as numbers here.
function normaliseUser(row: UserRow): UserRow {
  return {
    ...row,
    id: Number(row.id),
    admin: Number(row.admin),
    disabled: Number(row.disabled),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
    password_changed_at: row.password_changed_at === null ? null : Number(row.password_changed_at),
  };
}

function normaliseRobot(row: RobotRow): RobotRow {
  return {
    ...row,
    id: Number(row.id),
    disabled: Number(row.disabled),
    expires_at: row.expires_at === null ? null : Number(row.expires_at),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  };
}
