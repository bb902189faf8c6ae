import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/principal.ts';
import type { RegistryService } from '../../registry/registry-service.ts';
import type { PullThroughCache } from '../../replication/proxy/pull-through-cache.ts';
import type { AccessControl } from '../auth/access-control.ts';
import type { UploadStateSigner } from './upload-state.ts';

export interface DistributionOptions {
  /** `http.host`: the external base URL for Location headers; relative URLs when unset. */
  externalURL: string | undefined;
  /** Signs the `_state` of upload Locations with a key derived from `http.secret`. */
  uploadState: UploadStateSigner;
  /** Pull-through caching: which names are proxied, and their content. Absent: nothing is. */
  proxy?: PullThroughCache;
}

export interface HandlerContext {
  registry: RegistryService;
  request: FastifyRequest;
  reply: FastifyReply;
  query: URLSearchParams;
  options: DistributionOptions;
  access: AccessControl;
  principal: Principal;
}

export function locationOf(context: HandlerContext, path: string): string {
  return context.options.externalURL ? new URL(path, context.options.externalURL).toString() : path;
}

export function repositoryPath(name: string, rest: string): string {
  return `/v2/${name}/${rest}`;
}
