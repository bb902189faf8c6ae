import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAnonymous } from '../../auth/principal.ts';
import { RegistryError } from '../../oci/errors.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import type { AccessControl } from '../auth/access-control.ts';
import { setHandlerLabel } from '../observability-plugin.ts';
import { deleteBlob, getBlob, headBlob } from './blob-handlers.ts';
import type { DistributionOptions, HandlerContext } from './context.ts';
import { listCatalog, listReferrers, listTags } from './listing-handlers.ts';
import { deleteManifest, getManifest, headManifest, putManifest } from './manifest-handlers.ts';
import { needsPush, requiredAccess } from './required-access.ts';
import { assertMethod, matchRoute, type Route } from './route-table.ts';
import { appendUpload, cancelUpload, completeUpload, startUpload, uploadStatus } from './upload-handlers.ts';

/** Distribution's handler names, kept for the `handler` metrics label. */
const handlerNames: Record<Route['kind'], string> = {
  base: 'base',
  catalog: 'catalog',
  tags: 'tags',
  manifest: 'manifest',
  blob: 'blob',
  uploads: 'blob_upload',
  upload: 'blob_upload_chunk',
  referrers: 'referrers',
};

/** The distribution API: one catch-all route under /v2/ dispatching on the path's fixed suffix. */
export function registerDistributionRoutes(
  app: FastifyInstance,
  registry: RegistryService,
  access: AccessControl,
  options: DistributionOptions,
): void {
  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = request.raw.url ?? '/';
    const queryStart = raw.indexOf('?');
    const path = queryStart === -1 ? raw : raw.slice(0, queryStart);
    const query = new URLSearchParams(queryStart === -1 ? '' : raw.slice(queryStart + 1));
    reply.header('Docker-Distribution-API-Version', 'registry/2.0');
    const route = matchRoute(path);
    if (!route) {
      request.raw.resume();
      throw new RegistryError('NAME_UNKNOWN', `no distribution endpoint at ${path.slice(0, 200)}`, { status: 404 });
    }
    setHandlerLabel(request, handlerNames[route.kind]);
    if ('name' in route) request.repositoryName = route.name;
    assertMethod(route, request.method);
    const principal = await access.identify(request);
    const required = requiredAccess(route, request.method);
    // A known caller pushing into a project that does not exist learns so (or gets it created);
    // an anonymous one is only asked to authenticate.
    if (access.auth.preparePush && 'name' in route && needsPush(required) && !isAnonymous(principal)) {
      await access.auth.preparePush(principal, route.name);
    }
    await access.authorize(request, principal, required);
    const context: HandlerContext = { registry, request, reply, query, options, access, principal };
    await dispatch(context, route, request.method);
  };
  app.route({ method: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'], url: '/v2', handler: handle });
  app.route({ method: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'], url: '/v2/*', handler: handle });
}

async function dispatch(context: HandlerContext, route: Route, method: string): Promise<void> {
  switch (route.kind) {
    case 'base':
      context.reply.code(200).header('Content-Type', 'application/json').send('{}');
      return;
    case 'catalog':
      return listCatalog(context);
    case 'tags':
      return listTags(context, route.name);
    case 'referrers':
      return listReferrers(context, route.name, route.digest);
    case 'manifest':
      if (method === 'GET') return getManifest(context, route.name, route.reference);
      if (method === 'HEAD') return headManifest(context, route.name, route.reference);
      if (method === 'PUT') return putManifest(context, route.name, route.reference);
      return deleteManifest(context, route.name, route.reference);
    case 'blob':
      if (method === 'GET') return getBlob(context, route.name, route.digest);
      if (method === 'HEAD') return headBlob(context, route.name, route.digest);
      return deleteBlob(context, route.name, route.digest);
    case 'uploads':
      return startUpload(context, route.name);
    case 'upload':
      if (method === 'GET') return uploadStatus(context, route.name, route.id);
      if (method === 'PATCH') return appendUpload(context, route.name, route.id);
      if (method === 'PUT') return completeUpload(context, route.name, route.id);
      return cancelUpload(context, route.name, route.id);
  }
}
