import type { Expression, ExpressionBuilder, Generated, Kysely, SqlBool } from 'kysely';
import type { Database } from './schema.ts';

export const memberKinds = ['user', 'group', 'robot'] as const;
export type MemberKind = (typeof memberKinds)[number];
export const memberRoles = ['projectAdmin', 'maintainer', 'developer', 'guest', 'limitedGuest'] as const;
export type MemberRole = (typeof memberRoles)[number];

export interface ProjectsTable {
  id: Generated<number>;
  name: string;
  /** 1 when anyone, anonymous callers included, may pull. */
  public: number;
  created_at: number;
  created_by: string | null;
  quota_bytes: number | null;
}

export interface ProjectMembersTable {
  id: Generated<number>;
  project_id: number;
  member_kind: MemberKind;
  member_name: string;
  role: MemberRole;
  created_at: number;
}

/** The tables of migration 003-projects (a type, not an interface: Kysely's withTables wants an index signature). */
export type ProjectTables = {
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
};

type ProjectDatabase = Database & ProjectTables;

export interface ProjectRecord {
  id: number;
  name: string;
  public: boolean;
  createdAt: number;
  createdBy: string | null;
  quotaBytes: number | null;
}

export interface MemberRecord {
  id: number;
  projectId: number;
  kind: MemberKind;
  name: string;
  role: MemberRole;
  createdAt: number;
}

/** Who is asking, as memberships name them: a user name and the groups it belongs to. */
export interface MemberIdentity {
  user: string | undefined;
  groups: readonly string[];
}

/** An existing project, whether it is public and the roles the identity holds in it. */
export interface ProjectStanding {
  public: boolean;
  roles: MemberRole[];
}

/** Which projects a listing shows: all of them, or the public ones, the identity's and some named ones. */
export type ProjectVisibility = { all: true } | { all: false; identity: MemberIdentity; alsoNamed: readonly string[] };

export interface NewProject {
  name: string;
  public: boolean;
  createdBy: string | null;
  quotaBytes?: number | null;
}

export interface NewMember {
  kind: MemberKind;
  name: string;
  role: MemberRole;
}

/** Bound parameters per statement stay well below every dialect's limit. */
const namesPerQuery = 500;

/** Projects and their members: the data behind role-based access in projects mode. */
export class ProjectStore {
  private readonly db: Kysely<ProjectDatabase>;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<ProjectTables>();
  }

  async findProject(name: string): Promise<ProjectRecord | undefined> {
    const row = await this.db.selectFrom('projects').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toProject(row);
  }

  /** Creates the project and its first members in one transaction; undefined when the name is taken. */
  async createProject(project: NewProject, members: readonly NewMember[] = []): Promise<ProjectRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const now = Date.now();
      const inserted = await trx
        .insertInto('projects')
        .values({
          name: project.name,
          public: project.public ? 1 : 0,
          created_at: now,
          created_by: project.createdBy,
          quota_bytes: project.quotaBytes ?? null,
        })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted === undefined) return undefined;
      for (const member of members) {
        await trx
          .insertInto('project_members')
          .values({
            project_id: inserted.id,
            member_kind: member.kind,
            member_name: member.name,
            role: member.role,
            created_at: now,
          })
          .execute();
      }
      const row = await trx.selectFrom('projects').selectAll().where('id', '=', inserted.id).executeTakeFirstOrThrow();
      return toProject(row);
    });
  }

  async updateProject(
    name: string,
    changes: { public?: boolean; quotaBytes?: number | null },
  ): Promise<ProjectRecord | undefined> {
    const values: { public?: number; quota_bytes?: number | null } = {};
    if (changes.public !== undefined) values.public = changes.public ? 1 : 0;
    if (changes.quotaBytes !== undefined) values.quota_bytes = changes.quotaBytes;
    if (Object.keys(values).length > 0) {
      await this.db.updateTable('projects').set(values).where('name', '=', name).execute();
    }
    return this.findProject(name);
  }

  /** Deletes the project and, by cascade, its members. */
  async deleteProject(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('projects').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Repositories holding at least one manifest inside the project: the name itself or `name/…`.
   * A prefix comparison by substr, not LIKE (`_` is a wildcard there) nor a range (collations
   * other than C may not sort `/` where a byte comparison does).
   */
  async countRepositories(name: string): Promise<number> {
    const prefix = `${name}/`;
    const row = await this.db
      .selectFrom('repositories')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where((eb) =>
        eb.or([
          eb('repositories.name', '=', name),
          eb(eb.fn<string>('substr', ['repositories.name', eb.val(1), eb.val(prefix.length)]), '=', prefix),
        ]),
      )
      .where((eb) =>
        eb.exists(eb.selectFrom('manifests').select('id').whereRef('manifests.repository_id', '=', 'repositories.id')),
      )
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** A page of the visible projects by name, and how many there are in all. */
  async listProjects(
    visibility: ProjectVisibility,
    page: { offset: number; limit: number },
  ): Promise<{ total: number; projects: ProjectRecord[] }> {
    const visible = (eb: ExpressionBuilder<ProjectDatabase, 'projects'>) => visibilityFilter(eb, visibility);
    const count = await this.db
      .selectFrom('projects')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where(visible)
      .executeTakeFirstOrThrow();
    const rows = await this.db
      .selectFrom('projects')
      .selectAll()
      .where(visible)
      .orderBy('name')
      .limit(page.limit)
      .offset(page.offset)
      .execute();
    return { total: Number(count.count), projects: rows.map(toProject) };
  }

  /**
   * For each of the named projects that exists: whether it is public and the roles the identity
   * holds there, directly or through a group. One query per few hundred names.
   */
  async standings(names: Iterable<string>, identity: MemberIdentity): Promise<Map<string, ProjectStanding>> {
    const result = new Map<string, ProjectStanding>();
    const unique = [...new Set(names)];
    for (let start = 0; start < unique.length; start += namesPerQuery) {
      const batch = unique.slice(start, start + namesPerQuery);
      const rows = await this.db
        .selectFrom('projects')
        .leftJoin('project_members', (join) =>
          join.onRef('project_members.project_id', '=', 'projects.id').on((eb) => memberMatch(eb, identity)),
        )
        .select(['projects.name', 'projects.public', 'project_members.role'])
        .where('projects.name', 'in', batch)
        .execute();
      for (const row of rows) {
        const standing = result.get(row.name) ?? { public: row.public === 1, roles: [] };
        if (row.role !== null) standing.roles.push(row.role);
        result.set(row.name, standing);
      }
    }
    return result;
  }

  async listMembers(projectId: number): Promise<MemberRecord[]> {
    const rows = await this.db
      .selectFrom('project_members')
      .selectAll()
      .where('project_id', '=', projectId)
      .orderBy('member_kind')
      .orderBy('member_name')
      .execute();
    return rows.map(toMember);
  }

  async findMember(projectId: number, memberId: number): Promise<MemberRecord | undefined> {
    const row = await this.db
      .selectFrom('project_members')
      .selectAll()
      .where('project_id', '=', projectId)
      .where('id', '=', memberId)
      .executeTakeFirst();
    return row && toMember(row);
  }

  /** Undefined when the project already has this member. */
  async addMember(projectId: number, member: NewMember): Promise<MemberRecord | undefined> {
    const inserted = await this.db
      .insertInto('project_members')
      .values({
        project_id: projectId,
        member_kind: member.kind,
        member_name: member.name,
        role: member.role,
        created_at: Date.now(),
      })
      .onConflict((conflict) => conflict.columns(['project_id', 'member_kind', 'member_name']).doNothing())
      .returning('id')
      .executeTakeFirst();
    return inserted && this.findMember(projectId, inserted.id);
  }

  async updateMemberRole(projectId: number, memberId: number, role: MemberRole): Promise<MemberRecord | undefined> {
    await this.db
      .updateTable('project_members')
      .set({ role })
      .where('project_id', '=', projectId)
      .where('id', '=', memberId)
      .execute();
    return this.findMember(projectId, memberId);
  }

  async removeMember(projectId: number, memberId: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('project_members')
      .where('project_id', '=', projectId)
      .where('id', '=', memberId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

function memberMatch(
  eb: ExpressionBuilder<ProjectDatabase, 'project_members'>,
  identity: MemberIdentity,
): Expression<SqlBool> {
  const alternatives: Expression<SqlBool>[] = [];
  if (identity.user !== undefined) {
    alternatives.push(
      eb.and([eb('project_members.member_kind', '=', 'user'), eb('project_members.member_name', '=', identity.user)]),
    );
  }
  if (identity.groups.length > 0) {
    alternatives.push(
      eb.and([
        eb('project_members.member_kind', '=', 'group'),
        eb('project_members.member_name', 'in', [...identity.groups]),
      ]),
    );
  }
  return eb.or(alternatives);
}

function visibilityFilter(
  eb: ExpressionBuilder<ProjectDatabase, 'projects'>,
  visibility: ProjectVisibility,
): Expression<SqlBool> {
  if (visibility.all) return eb.and([]);
  const alternatives: Expression<SqlBool>[] = [eb('projects.public', '=', 1)];
  const { identity } = visibility;
  if (identity.user !== undefined || identity.groups.length > 0) {
    alternatives.push(
      eb(
        'projects.id',
        'in',
        eb
          .selectFrom('project_members')
          .select('project_members.project_id')
          .where((inner) => memberMatch(inner, identity)),
      ),
    );
  }
  if (visibility.alsoNamed.length > 0) alternatives.push(eb('projects.name', 'in', [...visibility.alsoNamed]));
  return eb.or(alternatives);
}

function toProject(row: {
  id: number;
  name: string;
  public: number;
  created_at: number;
  created_by: string | null;
  quota_bytes: number | null;
}): ProjectRecord {
  return {
    id: row.id,
    name: row.name,
    public: row.public === 1,
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
    quotaBytes: row.quota_bytes === null ? null : Number(row.quota_bytes),
  };
}

function toMember(row: {
  id: number;
  project_id: number;
  member_kind: MemberKind;
  member_name: string;
  role: MemberRole;
  created_at: number;
}): MemberRecord {
  return {
    id: row.id,
    projectId: row.project_id,
    kind: row.member_kind,
    name: row.member_name,
    role: row.role,
    createdAt: Number(row.created_at),
  };
}
