import { z } from 'zod';
import type { Principal } from '../../auth/principal.ts';
import type { ProjectStore } from '../../metadata/project-store.ts';
import { RegistryError } from '../../oci/errors.ts';
import type { ProxyProjectChanges, ProxyProjectStore } from '../../replication/proxy/proxy-project-store.ts';
import { forbidden, notFound, preconditionFailed } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { projectPathSchema } from './project-schemas.ts';
import {
  type ProxyCacheInput,
  proxyCacheBody,
  proxyCacheInputSchema,
  proxyCacheSchema,
} from './proxy-cache-schemas.ts';

export interface ProxyCacheRouteDependencies {
  projects: ProjectStore;
  caches: ProxyProjectStore;
  /** Told when a project's cache settings change, so requests use the new ones at once. */
  changed(project: string): void;
}

const tag = 'proxy-cache';
const responses = {
  unauthorized: { status: 401, description: 'authentication required' },
  forbidden: { status: 403, description: 'the caller is not a system administrator' },
  notFound: { status: 404, description: 'no such project, or it is not a pull-through cache' },
} as const;

/**
 * Proxy projects: a project made a pull-through cache of an upstream registry. Pointing the
 * registry at arbitrary URLs is for system administrators only, as Harbor's registry endpoints are.
 */
export function proxyCacheRoutes(deps: ProxyCacheRouteDependencies): ApiRoute[] {
  const { projects, caches } = deps;
  return [
    defineRoute({
      method: 'GET',
      path: '/proxy-caches',
      operationId: 'listProxyCaches',
      summary: 'The projects that are pull-through caches, with their upstreams (system administrators)',
      tag,
      anonymous: false,
      responses: [
        { status: 200, description: 'every proxy project', schema: z.array(proxyCacheSchema) },
        responses.unauthorized,
        responses.forbidden,
      ],
      async handler({ principal }) {
        requireAdmin(principal);
        return { status: 200, body: (await caches.list()).map(proxyCacheBody) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/proxy-cache',
      operationId: 'getProxyCache',
      summary: "A proxy project's upstream (system administrators); the password is never shown",
      tag,
      anonymous: false,
      params: projectPathSchema,
      responses: [
        { status: 200, description: 'the settings', schema: proxyCacheSchema },
        responses.unauthorized,
        responses.forbidden,
        responses.notFound,
      ],
      async handler({ principal, params }) {
        requireAdmin(principal);
        const record = await caches.find(params.name);
        if (!record) throw notProxy(params.name, await projects.findProject(params.name));
        return { status: 200, body: proxyCacheBody(record) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/projects/{name}/proxy-cache',
      operationId: 'setProxyCache',
      summary: 'Make an empty project a pull-through cache of an upstream registry, or change its upstream',
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: proxyCacheInputSchema,
      responses: [
        { status: 200, description: 'the settings now', schema: proxyCacheSchema },
        { status: 400, description: 'the settings are not valid' },
        responses.unauthorized,
        responses.forbidden,
        { status: 404, description: 'no such project' },
        { status: 412, description: 'the project holds pushed repositories' },
      ],
      async handler({ principal, params, body }) {
        requireAdmin(principal);
        const project = await projects.findProject(params.name);
        if (!project) throw notFound(`project ${params.name} does not exist`);
        const existing = await caches.find(params.name);
        if (!existing) {
          const repositories = await projects.countRepositories(params.name);
          if (repositories > 0) {
            throw preconditionFailed(
              `project ${params.name} holds ${repositories} ${repositories === 1 ? 'repository' : 'repositories'}; only an empty project can become a pull-through cache`,
            );
          }
        }
        await caches.save(project.id, changesOf(body, existing?.username), principal.name);
        deps.changed(params.name);
        const saved = await caches.find(params.name);
        if (!saved) throw notFound(`project ${params.name} does not exist`);
        return { status: 200, body: proxyCacheBody(saved) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/projects/{name}/proxy-cache',
      operationId: 'deleteProxyCache',
      summary: 'Make a proxy project an ordinary project again; what it cached stays (system administrators)',
      tag,
      anonymous: false,
      params: projectPathSchema,
      responses: [
        { status: 204, description: 'it is an ordinary project now' },
        responses.unauthorized,
        responses.forbidden,
        responses.notFound,
      ],
      async handler({ principal, params }) {
        requireAdmin(principal);
        const project = await projects.findProject(params.name);
        if (!project || !(await caches.remove(project.id))) throw notProxy(params.name, project);
        deps.changed(params.name);
        return { status: 204 };
      },
    }),
  ];
}

function requireAdmin(principal: Principal): void {
  if (!principal.admin) throw forbidden('only system administrators may manage pull-through caches');
}

function notProxy(name: string, project: unknown): RegistryError {
  return notFound(project ? `project ${name} is not a pull-through cache` : `project ${name} does not exist`);
}

/** The stored credential is kept when none is given, or when only its secret is left out. */
function changesOf(body: ProxyCacheInput, storedUsername: string | undefined): ProxyProjectChanges {
  let credentials: ProxyProjectChanges['credentials'];
  const credential = body.credential;
  if (credential === undefined) credentials = undefined;
  else if (credential.type === 'none') credentials = null;
  else if (credential.access_secret !== undefined) {
    credentials = { username: credential.access_key, password: credential.access_secret };
  } else if (credential.access_key === storedUsername) {
    credentials = undefined;
  } else {
    throw new RegistryError('UNSUPPORTED', 'credential.access_secret is required for a new access_key', {
      status: 400,
    });
  }
  return {
    url: body.url.replace(/\/+$/, ''),
    credentials,
    ca: body.ca_certificate ?? null,
    insecure: body.insecure,
    tagTtlMs: body.tag_ttl_seconds * 1000,
    remoteNamespace: body.remote_namespace ?? null,
  };
}
