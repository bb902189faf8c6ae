import { z } from 'zod';
import type { Principal } from '../../auth/principal.ts';
import { type RobotAccount, type RobotDirectory, robotAccountName } from '../../auth/projects/robot-directory.ts';
import { conflict, forbidden, notFound, translateIdentityErrors, unavailable } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { apiPrefix, type ManagementContext } from './management-context.ts';
import { projectPathSchema } from './project-schemas.ts';
import {
  expiryOf,
  newProjectRobotSchema,
  newSystemRobotSchema,
  projectRobotChangesSchema,
  projectRobotPathSchema,
  robotBody,
  robotSchema,
  robotSecretSchema,
  robotWithSecretSchema,
  systemRobotChangesSchema,
  systemRobotPathSchema,
} from './robot-schemas.ts';

const tag = 'robots';

/**
 * Robot accounts: project robots under their project (members above limited guest see them,
 * project admins manage them) and system robots under /robots (system administrators). A secret
 * is shown when it is made, never again.
 */
export function robotRoutes(context: ManagementContext): ApiRoute[] {
  const { access, projects } = context;

  function directory(): RobotDirectory {
    if (!context.robots) throw unavailable('robot accounts are not available');
    return context.robots;
  }

  async function robotIn(project: string | null, name: string): Promise<RobotAccount> {
    const fullName = robotAccountName(project, name);
    const robot = await directory().find(fullName);
    if (!robot || robot.project !== project) throw notFound(`robot account ${fullName} does not exist`);
    return robot;
  }

  async function assertProjectsExist(names: readonly string[]): Promise<void> {
    const wanted = names.filter((name) => name !== '*');
    const existing = await projects.standings(wanted, { user: undefined, groups: [] });
    const missing = wanted.find((name) => !existing.has(name));
    if (missing !== undefined) throw notFound(`project ${missing} does not exist`);
  }

  async function create(
    principal: Principal,
    project: string | null,
    input: { name: string; description: string; duration: number },
    permissions: RobotAccount['permissions'],
  ) {
    const robots = directory();
    const fullName = robotAccountName(project, input.name);
    if (await robots.find(fullName)) throw conflict(`robot account ${fullName} already exists`);
    const { robot, secret } = await translateIdentityErrors(() =>
      robots.create({
        project,
        name: input.name,
        description: input.description,
        permissions,
        expiresAt: expiryOf(input.duration),
        createdBy: principal.name,
      }),
    );
    const location =
      project === null ? `${apiPrefix}/robots/${input.name}` : `${apiPrefix}/projects/${project}/robots/${input.name}`;
    return { status: 201, body: { ...robotBody(robot), secret }, headers: { Location: location } };
  }

  const projectRobots: ApiRoute[] = [
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/robots',
      operationId: 'listProjectRobots',
      summary: "The project's robot accounts",
      tag,
      anonymous: false,
      params: projectPathSchema,
      responses: [{ status: 200, description: 'the robots, without secrets', schema: z.array(robotSchema) }],
      async handler({ principal, params }) {
        await access.require(principal, params.name, 'robot:list');
        return { status: 200, body: (await directory().list(params.name)).map(robotBody) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects/{name}/robots',
      operationId: 'createProjectRobot',
      summary: 'Create a robot account for the project; its secret is in this answer only (project admins)',
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: newProjectRobotSchema,
      responses: [
        {
          status: 201,
          description: 'created, with its secret',
          schema: robotWithSecretSchema,
          headers: { Location: 'the new robot' },
        },
        { status: 409, description: 'a robot of that name exists' },
      ],
      async handler({ principal, params, body }) {
        await access.require(principal, params.name, 'robot:manage');
        return create(principal, params.name, body, [{ project: params.name, actions: body.actions }]);
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/robots/{robot}',
      operationId: 'getProjectRobot',
      summary: 'One robot account of the project, without its secret',
      tag,
      anonymous: false,
      params: projectRobotPathSchema,
      responses: [{ status: 200, description: 'the robot', schema: robotSchema }],
      async handler({ principal, params }) {
        await access.require(principal, params.name, 'robot:list');
        return { status: 200, body: robotBody(await robotIn(params.name, params.robot)) };
      },
    }),
    defineRoute({
      method: 'PATCH',
      path: '/projects/{name}/robots/{robot}',
      operationId: 'updateProjectRobot',
      summary: "Change a robot's description, actions, lifetime or disabled flag (project admins)",
      tag,
      anonymous: false,
      params: projectRobotPathSchema,
      body: projectRobotChangesSchema,
      responses: [{ status: 200, description: 'the changed robot', schema: robotSchema }],
      async handler({ principal, params, body }) {
        await access.require(principal, params.name, 'robot:manage');
        const robot = await robotIn(params.name, params.robot);
        const updated = await translateIdentityErrors(() =>
          directory().update(robot.name, {
            description: body.description,
            disabled: body.disabled,
            expiresAt: body.duration === undefined ? undefined : expiryOf(body.duration),
            permissions: body.actions && [{ project: params.name, actions: body.actions }],
          }),
        );
        context.credentialsChanged(robot.name);
        return { status: 200, body: robotBody(updated) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/projects/{name}/robots/{robot}',
      operationId: 'deleteProjectRobot',
      summary: 'Delete a robot account of the project (project admins)',
      tag,
      anonymous: false,
      params: projectRobotPathSchema,
      responses: [{ status: 204, description: 'deleted' }],
      async handler({ principal, params }) {
        await access.require(principal, params.name, 'robot:manage');
        const robot = await robotIn(params.name, params.robot);
        await directory().delete(robot.name);
        context.credentialsChanged(robot.name);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects/{name}/robots/{robot}/secret',
      operationId: 'rotateProjectRobotSecret',
      summary: 'Replace the secret of a robot account; the new one is in this answer only (project admins)',
      tag,
      anonymous: false,
      params: projectRobotPathSchema,
      responses: [{ status: 200, description: 'the new secret', schema: robotSecretSchema }],
      async handler({ principal, params }) {
        await access.require(principal, params.name, 'robot:manage');
        const robot = await robotIn(params.name, params.robot);
        const secret = await translateIdentityErrors(() => directory().rotateSecret(robot.name));
        context.credentialsChanged(robot.name);
        return { status: 200, body: { name: robot.name, secret } };
      },
    }),
  ];

  const systemRobots: ApiRoute[] = [
    defineRoute({
      method: 'GET',
      path: '/robots',
      operationId: 'listSystemRobots',
      summary: 'System robot accounts (system administrators)',
      tag,
      anonymous: false,
      responses: [{ status: 200, description: 'the robots, without secrets', schema: z.array(robotSchema) }],
      async handler({ principal }) {
        requireAdmin(principal);
        return { status: 200, body: (await directory().list(null)).map(robotBody) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/robots',
      operationId: 'createSystemRobot',
      summary: 'Create a system robot with permissions on several projects or "*"; its secret is in this answer only',
      tag,
      anonymous: false,
      body: newSystemRobotSchema,
      responses: [
        {
          status: 201,
          description: 'created, with its secret',
          schema: robotWithSecretSchema,
          headers: { Location: 'the new robot' },
        },
        { status: 404, description: 'a project named in the permissions does not exist' },
        { status: 409, description: 'a robot of that name exists' },
      ],
      async handler({ principal, body }) {
        requireAdmin(principal);
        await assertProjectsExist(body.permissions.map((permission) => permission.project));
        return create(principal, null, body, body.permissions);
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/robots/{robot}',
      operationId: 'getSystemRobot',
      summary: 'One system robot, without its secret',
      tag,
      anonymous: false,
      params: systemRobotPathSchema,
      responses: [{ status: 200, description: 'the robot', schema: robotSchema }],
      async handler({ principal, params }) {
        requireAdmin(principal);
        return { status: 200, body: robotBody(await robotIn(null, params.robot)) };
      },
    }),
    defineRoute({
      method: 'PATCH',
      path: '/robots/{robot}',
      operationId: 'updateSystemRobot',
      summary: "Change a system robot's description, permissions, lifetime or disabled flag",
      tag,
      anonymous: false,
      params: systemRobotPathSchema,
      body: systemRobotChangesSchema,
      responses: [{ status: 200, description: 'the changed robot', schema: robotSchema }],
      async handler({ principal, params, body }) {
        requireAdmin(principal);
        const robot = await robotIn(null, params.robot);
        if (body.permissions) await assertProjectsExist(body.permissions.map((permission) => permission.project));
        const updated = await translateIdentityErrors(() =>
          directory().update(robot.name, {
            description: body.description,
            disabled: body.disabled,
            expiresAt: body.duration === undefined ? undefined : expiryOf(body.duration),
            permissions: body.permissions,
          }),
        );
        context.credentialsChanged(robot.name);
        return { status: 200, body: robotBody(updated) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/robots/{robot}',
      operationId: 'deleteSystemRobot',
      summary: 'Delete a system robot',
      tag,
      anonymous: false,
      params: systemRobotPathSchema,
      responses: [{ status: 204, description: 'deleted' }],
      async handler({ principal, params }) {
        requireAdmin(principal);
        const robot = await robotIn(null, params.robot);
        await directory().delete(robot.name);
        context.credentialsChanged(robot.name);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/robots/{robot}/secret',
      operationId: 'rotateSystemRobotSecret',
      summary: 'Replace the secret of a system robot; the new one is in this answer only',
      tag,
      anonymous: false,
      params: systemRobotPathSchema,
      responses: [{ status: 200, description: 'the new secret', schema: robotSecretSchema }],
      async handler({ principal, params }) {
        requireAdmin(principal);
        const robot = await robotIn(null, params.robot);
        const secret = await translateIdentityErrors(() => directory().rotateSecret(robot.name));
        context.credentialsChanged(robot.name);
        return { status: 200, body: { name: robot.name, secret } };
      },
    }),
  ];

  return [...projectRobots, ...systemRobots];
}

function requireAdmin(principal: Principal): void {
  if (!principal.admin) throw forbidden('only system administrators may manage system robot accounts');
}
