import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAnonymous } from '../../auth/principal.ts';
import { RegistryError } from '../../oci/errors.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import type { ProxyTarget } from '../../replication/proxy/proxy-target.ts';
import type { AccessControl } from '../auth/access-control.ts';
import { setHandlerLabel } from '../observability-plugin.ts';
import { deleteBlob, getBlob, headBlob } from './blob-handlers.ts';
import type { DistributionOptions, HandlerContext } from './context.ts';
import { listCatalog, listReferrers, listTags } from './listing-handlers.ts';
import { deleteManifest, getManifest, headManifest, putManifest } from './manifest-handlers.ts';
import { dispatchProxied } from './proxy-handlers.ts';
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
    const matched = matchRoute(path);
    if (!matched) {
      request.raw.resume();
      throw new RegistryError('NAME_UNKNOWN', `no distribution endpoint at ${path.slice(0, 200)}`, { status: 404 });
    }
    setHandlerLabel(request, handlerNames[matched.kind]);
    assertMethod(matched, request.method);
    const proxied = await proxyTargetOf(options, matched, request);
    // A proxied name may be stored under another (a mirror's, Docker Hub's `library/`): access is
    // checked and content kept under that one.
    const route = proxied && 'name' in matched ? { ...matched, name: proxied.localName } : matched;
    if ('name' in route) request.repositoryName = route.name;
    const principal = await access.identify(request);
    const required = requiredAccess(route, request.method);
    // A known caller pushing into a project that does not exist learns so (or gets it created);
    // an anonymous one is only asked to authenticate.
    if (access.auth.preparePush && 'name' in route && needsPush(required) && !isAnonymous(principal)) {
      await access.auth.preparePush(principal, route.name);
    }
    await access.authorize(request, principal, required);
    const context: HandlerContext = { registry, request, reply, query, options, access, principal };
    if (proxied && options.proxy && (await dispatchProxied(context, options.proxy, proxied, route, request.method))) {
      return;
    }
    await dispatch(context, route, request.method);
  };
  app.route({ method: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'], url: '/v2', handler: handle });
  app.route({ method: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'], url: '/v2/*', handler: handle });
}

/**
 * The pull-through cache a repository name goes to, if any. Reads are served through it and
 * deletes act on what it cached; a push into it is refused.
 */
async function proxyTargetOf(
  options: DistributionOptions,
  route: Route,
  request: FastifyRequest,
): Promise<ProxyTarget | undefined> {
  if (!options.proxy || !('name' in route)) return undefined;
  const read = request.method === 'GET' || request.method === 'HEAD';
  const target = await options.proxy.resolve(route.name, read);
  const evicting = request.method === 'DELETE' && (route.kind === 'manifest' || route.kind === 'blob');
  if (target && !read && !evicting) {
    request.raw.resume();
    throw target.refusal();
  }
  return target;
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
