import { z } from 'zod';
import type { Principal } from '../../auth/principal.ts';
import { isRobot, memberIdentityOf } from '../../auth/projects/principal-kind.ts';
import { highestRole } from '../../auth/projects/roles.ts';
import type { ProjectVisibility } from '../../metadata/project-store.ts';
import { conflict, forbidden, preconditionFailed } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageHeaderDocs, pageQuerySchema } from './common-schemas.ts';
import { apiPrefix, type ManagementContext } from './management-context.ts';
import { pageHeaders, pageWindow } from './paging.ts';
import {
  newProjectSchema,
  projectBody,
  projectChangesSchema,
  projectPathSchema,
  projectSchema,
} from './project-schemas.ts';

const tag = 'projects';

export function projectRoutes(context: ManagementContext): ApiRoute[] {
  const { projects, access } = context;
  return [
    defineRoute({
      method: 'GET',
      path: '/projects',
      operationId: 'listProjects',
      summary: 'The projects the caller may see: public ones, its own, or all of them for an administrator',
      tag,
      anonymous: true,
      query: pageQuerySchema,
      responses: [
        { status: 200, description: 'a page of projects', schema: z.array(projectSchema), headers: pageHeaderDocs },
      ],
      async handler({ request, principal, query }) {
        const { total, projects: page } = await projects.listProjects(visibilityOf(principal), pageWindow(query));
        const standings = await projects.standings(
          page.map((project) => project.name),
          memberIdentityOf(principal),
        );
        return {
          status: 200,
          body: page.map((project) => projectBody(project, highestRole(standings.get(project.name)?.roles ?? []))),
          headers: pageHeaders(request, query, total),
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects',
      operationId: 'createProject',
      summary: 'Create a project; the caller becomes its project admin',
      tag,
      anonymous: false,
      body: newProjectSchema,
      responses: [
        { status: 201, description: 'created', schema: projectSchema, headers: { Location: 'the new project' } },
        { status: 409, description: 'a project of that name exists' },
      ],
      async handler({ principal, body }) {
        if (!context.authorizer.mayCreateProjects(principal)) {
          throw forbidden(
            isRobot(principal) ? 'robot accounts may not create projects' : 'only administrators may create projects',
          );
        }
        const created = await projects.createProject(
          { name: body.name, public: body.public, createdBy: principal.name },
          [{ kind: 'user', name: principal.name, role: 'projectAdmin' }],
        );
        if (!created) throw conflict(`project ${body.name} already exists`);
        return {
          status: 201,
          body: projectBody(created, 'projectAdmin', 0),
          headers: { Location: `${apiPrefix}/projects/${created.name}` },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}',
      operationId: 'getProject',
      summary: 'One project, when the caller may see it',
      tag,
      anonymous: true,
      params: projectPathSchema,
      responses: [{ status: 200, description: 'the project', schema: projectSchema }],
      async handler({ principal, params }) {
        const view = await access.view(principal, params.name);
        return {
          status: 200,
          body: projectBody(view.project, view.role, await projects.countRepositories(params.name)),
        };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/projects/{name}',
      operationId: 'updateProject',
      summary: 'Make a project public or private (project admins)',
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: projectChangesSchema,
      responses: [{ status: 200, description: 'the changed project', schema: projectSchema }],
      async handler({ principal, params, body }) {
        const view = await access.require(principal, params.name, 'project:update');
        const updated = await projects.updateProject(params.name, { public: body.public });
        return { status: 200, body: projectBody(updated ?? view.project, view.role) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/projects/{name}',
      operationId: 'deleteProject',
      summary:
        'Delete a project with its members, robot accounts and policies (project admins): an empty one, or with force=true its repositories first',
      tag,
      anonymous: false,
      params: projectPathSchema,
      query: deleteProjectQuerySchema,
      responses: [
        { status: 204, description: 'deleted' },
        { status: 403, description: 'an immutable tag refused the deletion of a repository' },
        { status: 412, description: 'the project still holds repositories (and force is not set)' },
      ],
      async handler({ principal, params, query }) {
        await access.require(principal, params.name, 'project:delete');
        const repositories = await projects.countRepositories(params.name);
        if (repositories > 0 && query.force && context.contents) {
          await context.contents.deleteRepositories(params.name);
        } else if (repositories > 0) {
          throw preconditionFailed(
            `project ${params.name} still holds ${repositories} ${repositories === 1 ? 'repository' : 'repositories'}; delete them first${context.contents ? ' or add ?force=true' : ''}`,
          );
        }
        if (context.robots) {
          const robots = await context.robots.list(params.name);
          await context.robots.deleteProjectRobots(params.name);
          for (const robot of robots) context.credentialsChanged(robot.name);
        }
        await projects.deleteProject(params.name);
        await context.contents?.projectDeleted(params.name);
        return { status: 204 };
      },
    }),
  ];
}

const deleteProjectQuerySchema = z.object({
  force: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true')
    .describe("also delete the project's repositories, each as DELETE of the repository would"),
});

/** Administrators (and robots allowed on `*`) see every project; others public ones and their own. */
function visibilityOf(principal: Principal): ProjectVisibility {
  if (principal.admin) return { all: true };
  if (isRobot(principal)) {
    const named = (principal.permissions ?? []).map((permission) => permission.project);
    if (named.includes('*')) return { all: true };
    return { all: false, identity: memberIdentityOf(principal), alsoNamed: named };
  }
  return { all: false, identity: memberIdentityOf(principal), alsoNamed: [] };
}
