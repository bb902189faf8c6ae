import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Principal } from '../../auth/principal.ts';
import type { ProjectAuthorizer } from '../../auth/projects/project-authorizer.ts';
import type { RobotDirectory } from '../../auth/projects/robot-directory.ts';
import type { ProjectStore } from '../../metadata/project-store.ts';
import { RegistryError } from '../../oci/errors.ts';
import { type ApiRoute, defineRoute, mountRoutes } from './api-route.ts';
import { apiPrefix, type ManagementContext, type ProjectContents } from './management-context.ts';
import { memberRoutes } from './member-routes.ts';
import { openApiDocument } from './openapi.ts';
import { ProjectAccess } from './project-access.ts';
import { projectRoutes } from './project-routes.ts';
import { robotRoutes } from './robot-routes.ts';

export interface ManagementApiDependencies {
  /** Who is calling (Basic, Bearer or client certificate); anonymous when nothing was sent. */
  identify(request: FastifyRequest): Promise<Principal>;
  /** The 401 for a caller that must authenticate, with the registry's challenge; a plain 401 if absent. */
  unauthorized?(message: string): RegistryError;
  projects: ProjectStore;
  authorizer: ProjectAuthorizer;
  /** Robot accounts; without them the robot routes answer 503. */
  robots?: RobotDirectory;
  /** Told when a robot's secret, permissions or state change, to drop cached logins of that name. */
  credentialsChanged?(name: string): void;
  /** Repositories and policies of projects: with it, DELETE /projects/{name}?force=true empties a project first. */
  contents?: ProjectContents;
  /** Further routes mounted and documented below /api/v1 (the users routes). */
  routes?: readonly ApiRoute[];
  /** The API document's version (the registry's). */
  version?: string;
}

/**
 * The management REST API below /api/v1: projects, members, robot accounts, whatever further
 * routes are given, and /api/v1/openapi.json describing all of them.
 */
export function registerManagementApi(app: FastifyInstance, deps: ManagementApiDependencies): void {
  const unauthorized = deps.unauthorized ?? ((message: string) => new RegistryError('UNAUTHORIZED', message));
  const context: ManagementContext = {
    projects: deps.projects,
    authorizer: deps.authorizer,
    access: new ProjectAccess(deps.projects, unauthorized),
    robots: deps.robots,
    credentialsChanged: (name) => deps.credentialsChanged?.(name),
    contents: deps.contents,
  };
  const routes: ApiRoute[] = [
    ...projectRoutes(context),
    ...memberRoutes(context),
    ...robotRoutes(context),
    ...(deps.routes ?? []),
  ];
  let document: unknown;
  const describe = defineRoute({
    method: 'GET',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    summary: 'This API, as an OpenAPI 3.1 document',
    tag: 'meta',
    anonymous: true,
    responses: [{ status: 200, description: 'the OpenAPI document', schema: z.record(z.string(), z.unknown()) }],
    async handler() {
      document ??= openApiDocument(operations, deps.version ?? '1');
      return { status: 200, body: document };
    },
  });
  const operations: ApiRoute[] = [...routes, describe];
  app.register(
    async (api) => {
      mountRoutes(api, operations, { identify: deps.identify, unauthorized });
    },
    { prefix: apiPrefix },
  );
}
