import { z } from 'zod';
import type { MemberRecord, MemberRole } from '../../metadata/project-store.ts';
import { conflict, notFound } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { apiPrefix, type ManagementContext } from './management-context.ts';
import { memberBody, memberChangesSchema, memberPathSchema, memberSchema, newMemberSchema } from './member-schemas.ts';
import { projectPathSchema } from './project-schemas.ts';

const tag = 'members';

/** Members of a project: anyone above limited guest sees them, project admins change them. */
export function memberRoutes(context: ManagementContext): ApiRoute[] {
  const { projects, access } = context;

  /** A project keeps at least one user or group as project admin, so someone can still manage it. */
  async function assertAdminRemains(projectId: number, changing: MemberRecord, newRole: MemberRole | undefined) {
    if (changing.role !== 'projectAdmin' || changing.kind === 'robot' || newRole === 'projectAdmin') return;
    const others = (await projects.listMembers(projectId)).filter(
      (member) => member.id !== changing.id && member.kind !== 'robot' && member.role === 'projectAdmin',
    );
    if (others.length === 0) throw conflict('a project keeps at least one project admin; add another one first');
  }

  async function memberOf(projectId: number, projectName: string, id: number): Promise<MemberRecord> {
    const member = await projects.findMember(projectId, id);
    if (!member) throw notFound(`project ${projectName} has no member ${id}`);
    return member;
  }

  return [
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/members',
      operationId: 'listMembers',
      summary: 'The members of a project: users, groups and robots with their roles',
      tag,
      anonymous: false,
      params: projectPathSchema,
      responses: [{ status: 200, description: 'the members', schema: z.array(memberSchema) }],
      async handler({ principal, params }) {
        const { project } = await access.require(principal, params.name, 'member:list');
        return { status: 200, body: (await projects.listMembers(project.id)).map(memberBody) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects/{name}/members',
      operationId: 'addMember',
      summary: 'Give a user, a group or a robot a role in the project (project admins)',
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: newMemberSchema,
      responses: [
        { status: 201, description: 'added', schema: memberSchema, headers: { Location: 'the new member' } },
        { status: 409, description: 'already a member; change its role with PUT' },
      ],
      async handler({ principal, params, body }) {
        const { project } = await access.require(principal, params.name, 'member:manage');
        const member = await projects.addMember(project.id, {
          kind: body.member_kind,
          name: body.member_name,
          role: body.role,
        });
        if (!member) {
          throw conflict(`${body.member_kind} ${body.member_name} is already a member of project ${project.name}`);
        }
        return {
          status: 201,
          body: memberBody(member),
          headers: { Location: `${apiPrefix}/projects/${project.name}/members/${member.id}` },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/members/{id}',
      operationId: 'getMember',
      summary: 'One member of a project',
      tag,
      anonymous: false,
      params: memberPathSchema,
      responses: [{ status: 200, description: 'the member', schema: memberSchema }],
      async handler({ principal, params }) {
        const { project } = await access.require(principal, params.name, 'member:list');
        return { status: 200, body: memberBody(await memberOf(project.id, project.name, params.id)) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/projects/{name}/members/{id}',
      operationId: 'updateMember',
      summary: "Change a member's role (project admins)",
      tag,
      anonymous: false,
      params: memberPathSchema,
      body: memberChangesSchema,
      responses: [
        { status: 200, description: 'the changed member', schema: memberSchema },
        { status: 409, description: 'the project would have no project admin left' },
      ],
      async handler({ principal, params, body }) {
        const { project } = await access.require(principal, params.name, 'member:manage');
        const member = await memberOf(project.id, project.name, params.id);
        await assertAdminRemains(project.id, member, body.role);
        const updated = await projects.updateMemberRole(project.id, member.id, body.role);
        return { status: 200, body: memberBody(updated ?? { ...member, role: body.role }) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/projects/{name}/members/{id}',
      operationId: 'removeMember',
      summary: 'Remove a member from the project (project admins)',
      tag,
      anonymous: false,
      params: memberPathSchema,
      responses: [
        { status: 204, description: 'removed' },
        { status: 409, description: 'the project would have no project admin left' },
      ],
      async handler({ principal, params }) {
        const { project } = await access.require(principal, params.name, 'member:manage');
        const member = await memberOf(project.id, project.name, params.id);
        await assertAdminRemains(project.id, member, undefined);
        await projects.removeMember(project.id, member.id);
        return { status: 204 };
      },
    }),
  ];
}
