import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { ProxyRouteConfig } from '../config/config.ts';
import type { Config } from '../config/index.ts';
import type { ApiRoute } from '../http/api/api-route.ts';
import { proxyCacheRoutes } from '../http/api/proxy-cache-routes.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { ProjectStore } from '../metadata/project-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import type { ProxyOptions } from '../replication/client/index.ts';
import { SecretBox } from '../replication/policies/secret-box.ts';
import { createProxyMetrics } from '../replication/proxy/proxy-metrics.ts';
import { ProxyProjectStore } from '../replication/proxy/proxy-project-store.ts';
import { type ProxyRoute, ProxyRouter } from '../replication/proxy/proxy-router.ts';
import { PullThroughCache } from '../replication/proxy/pull-through-cache.ts';
import { TagCheckStore } from '../replication/proxy/tag-check-store.ts';
import { UpstreamPool } from '../replication/proxy/upstream-pool.ts';
import type { UpstreamSettings } from '../replication/proxy/upstream-settings.ts';

export interface ProxyCacheDependencies {
  registry: RegistryService;
  metadata: MetadataStore;
  httpSecret: string;
  logger: Logger;
  metrics: Metrics;
  version: string;
}

export interface ComposedProxyCache {
  /** Undefined when nothing can be proxied: no routes, no `proxy.remoteurl`, no projects mode. */
  cache: PullThroughCache | undefined;
  /** The proxy project routes of the management API (projects mode). */
  apiRoutes: ApiRoute[];
  close(): Promise<void>;
}

/**
 * The pull-through cache from `proxy.*` and, in projects mode, proxy projects; docs/proxy-cache.md
 * describes both.
 */
export async function composeProxyCache(config: Config, deps: ProxyCacheDependencies): Promise<ComposedProxyCache> {
  const { proxy } = config;
  const projectsMode = config.auth.projects.enabled;
  const routes = await Promise.all(proxy.routes.map(routeOf));
  const registryWide = proxy.remoteurl === undefined ? undefined : await registrySettings(config);
  if (proxy.mirror !== undefined && !projectsMode && !routes.some((route) => route.prefix === proxy.mirror)) {
    throw new Error(
      `proxy.mirror: ${JSON.stringify(proxy.mirror)} names no proxy.routes prefix (outside projects mode a route must answer for the mirror)`,
    );
  }
  if (routes.length === 0 && registryWide === undefined && !projectsMode) {
    return { cache: undefined, apiRoutes: [], close: async () => {} };
  }

  const projectStore = projectsMode ? new ProjectStore(deps.metadata.db) : undefined;
  const caches = projectsMode ? new ProxyProjectStore(deps.metadata.db, new SecretBox(deps.httpSecret)) : undefined;
  const upstreams = new UpstreamPool({ proxy: upstreamProxy(config), userAgent: `wharf/${deps.version}` });
  const router = new ProxyRouter({
    routes,
    registry: registryWide,
    mirror: proxy.mirror,
    projects: caches,
    repositoryExists: (name) => deps.registry.repositoryExists(name),
    upstreams,
    logger: deps.logger,
  });
  const cache = new PullThroughCache({
    registry: deps.registry,
    router,
    upstreams,
    tagChecks: new TagCheckStore(deps.metadata.db),
    spoolDirectory: proxy.spooldirectory ?? join(config.storage.filesystem.rootdirectory, 'proxy-spool'),
    logger: deps.logger.child({ component: 'proxy-cache' }),
    metrics: createProxyMetrics(deps.metrics.registry),
  });
  if (routes.length > 0 || registryWide) {
    deps.logger.info(
      {
        routes: routes.map((route) => `${route.prefix}/ -> ${route.settings.url}`),
        remoteurl: registryWide?.url,
        mirror: proxy.mirror,
      },
      'pull-through cache configured',
    );
  }
  return {
    cache,
    apiRoutes:
      projectStore && caches
        ? proxyCacheRoutes({ projects: projectStore, caches, changed: (project) => router.forget(project) })
        : [],
    close: () => cache.close(),
  };
}

async function routeOf(route: ProxyRouteConfig): Promise<ProxyRoute> {
  return {
    prefix: route.prefix,
    settings: {
      url: route.remoteurl.replace(/\/+$/, ''),
      credentials:
        route.username !== undefined && route.password !== undefined
          ? { username: route.username, password: route.password }
          : undefined,
      ca: route.cacert === undefined ? undefined : await readCa(route.cacert, 'proxy.routes[].cacert'),
      insecure: route.insecure,
      tagTtlMs: route.ttl,
      remoteNamespace: route.remotenamespace,
    },
  };
}

async function registrySettings(config: Config): Promise<UpstreamSettings> {
  const { proxy } = config;
  return {
    url: (proxy.remoteurl ?? '').replace(/\/+$/, ''),
    credentials:
      proxy.username !== undefined && proxy.password !== undefined
        ? { username: proxy.username, password: proxy.password }
        : undefined,
    ca: proxy.cacert === undefined ? undefined : await readCa(proxy.cacert, 'proxy.cacert'),
    insecure: proxy.insecure,
    tagTtlMs: proxy.ttl,
    remoteNamespace: undefined,
  };
}

async function readCa(path: string, key: string): Promise<string> {
  try {
    return await readFile(isAbsolute(path) ? path : join(process.cwd(), path), 'utf8');
  } catch (error) {
    throw new Error(`${key}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** `proxy.upstreamproxy` and `proxy.noproxy`, else the HTTPS_PROXY/HTTP_PROXY/NO_PROXY variables. */
function upstreamProxy(config: Config): ProxyOptions | undefined {
  const { upstreamproxy, noproxy } = config.proxy;
  if (upstreamproxy !== undefined)
    return { url: upstreamproxy, ...(noproxy === undefined ? {} : { noProxy: noproxy }) };
  return noproxy === undefined ? undefined : { noProxy: noproxy };
}
