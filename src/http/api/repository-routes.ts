import { z } from 'zod';
import { parseRepositoryName } from '../../oci/reference.ts';
import { notFound } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageHeaderDocs, pageQuerySchema } from './common-schemas.ts';
import { requireRepositoryDelete } from './lifecycle-access.ts';
import type { LifecycleApiDependencies } from './lifecycle-api.ts';
import { pageHeaders, pageWindow } from './paging.ts';
import type { ProjectAccess } from './project-access.ts';
import { projectPathSchema } from './project-schemas.ts';
import {
  artifactBody,
  artifactSchema,
  repositoryBody,
  repositoryPathSchema,
  repositorySchema,
} from './repository-schemas.ts';

const tag = 'repositories';

/** A project's repositories and their artifacts; deleting a repository (its manifests, tags and blob links). */
export function repositoryRoutes(
  access: ProjectAccess,
  deps: Pick<LifecycleApiDependencies, 'inventory' | 'registry'>,
): ApiRoute[] {
  const { inventory } = deps;
  const findRepository = async (project: string, relative: string) => {
    const name = parseRepositoryName(`${project}/${relative}`);
    const repository = await inventory.findRepository(name);
    if (!repository) throw notFound(`repository ${name} does not exist`);
    return repository;
  };
  return [
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/repositories',
      operationId: 'listRepositories',
      summary: "The project's repositories that hold at least one artifact, by name",
      tag,
      anonymous: true,
      params: projectPathSchema,
      query: pageQuerySchema,
      responses: [
        {
          status: 200,
          description: 'a page of repositories',
          schema: z.array(repositorySchema),
          headers: pageHeaderDocs,
        },
      ],
      async handler({ request, principal, params, query }) {
        await access.view(principal, params.name);
        const { total, repositories } = await inventory.listRepositories(params.name, pageWindow(query));
        return { status: 200, body: repositories.map(repositoryBody), headers: pageHeaders(request, query, total) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/repositories/{repository}',
      operationId: 'getRepository',
      summary: 'One repository',
      tag,
      anonymous: true,
      params: repositoryPathSchema,
      responses: [{ status: 200, description: 'the repository', schema: repositorySchema }],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        return { status: 200, body: repositoryBody(await findRepository(params.name, params.repository)) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/projects/{name}/repositories/{repository}',
      operationId: 'deleteRepository',
      summary:
        'Delete a repository with all its artifacts and tags (maintainers, project admins); gone from the catalog at once',
      tag,
      anonymous: false,
      params: repositoryPathSchema,
      responses: [
        { status: 204, description: 'deleted' },
        { status: 403, description: 'the caller may not delete here, or an immutable tag refuses it' },
        { status: 405, description: 'deletes are disabled (storage.delete.enabled)' },
      ],
      async handler({ principal, params }) {
        await requireRepositoryDelete(access, principal, params.name);
        await deps.registry.deleteRepository(parseRepositoryName(`${params.name}/${params.repository}`));
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/repositories/{repository}/artifacts',
      operationId: 'listArtifacts',
      summary: "The repository's artifacts (manifests), most recently stored first",
      tag,
      anonymous: true,
      params: repositoryPathSchema,
      query: pageQuerySchema,
      responses: [
        { status: 200, description: 'a page of artifacts', schema: z.array(artifactSchema), headers: pageHeaderDocs },
      ],
      async handler({ request, principal, params, query }) {
        await access.view(principal, params.name);
        const repository = await findRepository(params.name, params.repository);
        const { total, artifacts } = await inventory.listArtifacts(repository.name, pageWindow(query));
        return { status: 200, body: artifacts.map(artifactBody), headers: pageHeaders(request, query, total) };
      },
    }),
  ];
}
