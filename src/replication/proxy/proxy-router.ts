import type { Logger } from '../../observability/logger.ts';
import { RegistryError } from '../../oci/errors.ts';
import { SecretUnreadableError } from '../policies/secret-box.ts';
import type { ProxyProjectStore } from './proxy-project-store.ts';
import type { ProxySource, ProxyTarget } from './proxy-target.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import { localRestName, remoteRepositoryName, type UpstreamSettings } from './upstream-settings.ts';

/** A namespace prefix of the registry sent to an upstream (`proxy.routes`). */
export interface ProxyRoute {
  /** Without slashes at either end: `ghcr`, `mirrors/quay`. */
  prefix: string;
  settings: UpstreamSettings;
}

export interface ProxyRouterOptions {
  routes: readonly ProxyRoute[];
  /** Distribution's `proxy.remoteurl`: the whole registry caches this upstream. */
  registry: UpstreamSettings | undefined;
  /**
   * The route prefix or proxy project that answers for names nothing else claims, as Docker's
   * `registry-mirrors` sends them (`library/nginx`, `user/app`).
   */
  mirror: string | undefined;
  /** Projects mode: projects that are caches, and which projects exist. */
  projects: ProxyProjectStore | undefined;
  /** Whether the registry holds a repository of that name (a local name is never mirrored). */
  repositoryExists(name: string): Promise<boolean>;
  upstreams: UpstreamPool;
  logger: Logger;
}

/** How long what a project is (absent, a normal project, a cache of what) is remembered. */
const projectLookupTtlMs = 5_000;

type ProjectLookup = { upstream: UpstreamSettings | undefined } | undefined;

/**
 * Decides which repository names are pull-through caches and of what: a configured route prefix,
 * a proxy project, the whole registry (`proxy.remoteurl`), or the mirror for names nothing local
 * claims. Everything else is an ordinary repository.
 */
export class ProxyRouter {
  private readonly routes: readonly ProxyRoute[];
  private readonly lookups = new Map<string, { value: ProjectLookup; until: number }>();
  /** Repositories found to exist (they rarely disappear), so pulls of them skip the question. */
  private readonly knownRepositories = new Map<string, number>();

  constructor(private readonly options: ProxyRouterOptions) {
    // Longest prefix first, so `mirrors/quay` wins over `mirrors`.
    this.routes = [...options.routes].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /**
   * The cache a request for `name` goes to, or undefined for an ordinary repository. `read` is true
   * for GET and HEAD: only reads are sent to the mirror, a push always lands in the registry.
   */
  async resolve(name: string, read: boolean): Promise<ProxyTarget | undefined> {
    const claimed = await this.claim(name);
    if (claimed !== 'local') return claimed;
    const mirror = this.options.mirror;
    if (!read || mirror === undefined || name === mirror || name.startsWith(`${mirror}/`)) return undefined;
    if (await this.claimedLocally(name)) return undefined;
    const target = await this.claim(`${mirror}/${name}`);
    return target === 'local' ? undefined : { ...target, source: 'mirror' };
  }

  /** Forgets what is remembered about a project, after its proxy settings changed. */
  forget(project: string): void {
    this.lookups.delete(project);
  }

  /** A route, a proxy project or the registry-wide cache; 'local' when none claims the name. */
  private async claim(name: string): Promise<ProxyTarget | 'local'> {
    for (const route of this.routes) {
      if (name.startsWith(`${route.prefix}/`)) {
        return this.target(route.prefix, name.slice(route.prefix.length + 1), route.settings, 'route');
      }
    }
    const slash = name.indexOf('/');
    if (this.options.projects && slash > 0) {
      const project = name.slice(0, slash);
      const upstream = (await this.lookup(project))?.upstream;
      if (upstream) return this.target(project, name.slice(slash + 1), upstream, 'project');
    }
    if (this.options.registry) return this.target('', name, this.options.registry, 'registry');
    return 'local';
  }

  /** In projects mode a name is local when its project exists; otherwise when its repository does. */
  private async claimedLocally(name: string): Promise<boolean> {
    if (this.options.projects) {
      const slash = name.indexOf('/');
      return slash > 0 && (await this.lookup(name.slice(0, slash))) !== undefined;
    }
    if ((this.knownRepositories.get(name) ?? 0) > Date.now()) return true;
    const exists = await this.options.repositoryExists(name);
    if (exists) {
      if (this.knownRepositories.size > 10_000) this.knownRepositories.clear();
      this.knownRepositories.set(name, Date.now() + projectLookupTtlMs);
    }
    return exists;
  }

  private target(prefix: string, rest: string, settings: UpstreamSettings, source: ProxySource): ProxyTarget {
    const upstream = this.options.upstreams.get(settings);
    const local = localRestName(settings, rest);
    return {
      localName: prefix === '' ? local : `${prefix}/${local}`,
      remoteName: remoteRepositoryName(settings, rest),
      upstream,
      tagTtlMs: settings.tagTtlMs,
      source,
      prefix,
      refusal: () => refusal(source, prefix, settings.url),
    };
  }

  private async lookup(project: string): Promise<ProjectLookup> {
    const remembered = this.lookups.get(project);
    if (remembered && remembered.until > Date.now()) return remembered.value;
    const store = this.options.projects;
    if (!store) return undefined;
    let value: ProjectLookup;
    try {
      value = await store.lookup(project);
    } catch (error) {
      if (!(error instanceof SecretUnreadableError)) throw error;
      this.options.logger.error({ project, err: error }, 'the upstream credentials of a proxy project cannot be read');
      throw new RegistryError(
        'UNAVAILABLE',
        `project ${project} is a pull-through cache whose upstream credentials cannot be decrypted; an administrator must set them again`,
      );
    }
    if (this.lookups.size > 10_000) this.lookups.clear();
    this.lookups.set(project, { value, until: Date.now() + projectLookupTtlMs });
    return value;
  }
}

function refusal(source: ProxySource, prefix: string, url: string): RegistryError {
  if (source === 'registry') {
    return new RegistryError(
      'UNSUPPORTED',
      `this registry is a pull-through cache of ${url} (proxy.remoteurl): pushes are not supported`,
    );
  }
  const what =
    source === 'route'
      ? `"${prefix}/" is routed to a pull-through cache of ${url}`
      : `project ${prefix} is a pull-through cache of ${url}`;
  return new RegistryError('DENIED', `${what}: pushes are refused; push to another project or namespace`);
}
