/** What a pull-through cache needs to know about the registry it caches. */
export interface UpstreamSettings {
  /** `https://registry-1.docker.io`, `http://mirror.internal:5000`; the registry's base URL. */
  url: string;
  /** Sent when the upstream asks for credentials; anonymous without. */
  credentials: { username: string; password: string } | undefined;
  /** Certificate authorities (PEM) trusted for the upstream besides the system's. */
  ca: string | undefined;
  /** Do not verify the upstream's TLS certificate. */
  insecure: boolean;
  /** How long a cached tag is served before the upstream is asked whether it moved. */
  tagTtlMs: number;
  /** Prepended to the path below the cache's prefix: `library` maps `dockerhub/nginx` to `library/nginx`. */
  remoteNamespace: string | undefined;
}

const dockerHubHosts = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export function isDockerHubUrl(url: string): boolean {
  try {
    return dockerHubHosts.has(new URL(url).hostname.toLowerCase());
  } catch {
    return false;
  }
}

/**
 * The upstream's name for a repository, given the part of the local name below the cache's
 * prefix: the remote namespace in front of it, and `library/` for a single name on Docker Hub.
 */
export function remoteRepositoryName(settings: UpstreamSettings, rest: string): string {
  const name = settings.remoteNamespace ? `${settings.remoteNamespace}/${rest}` : rest;
  return isDockerHubUrl(settings.url) && !name.includes('/') ? `library/${name}` : name;
}

/**
 * The local name below the cache's prefix: Docker Hub's single names are kept under `library/`, so
 * `dockerhub/nginx` and `dockerhub/library/nginx` share one cached repository.
 */
export function localRestName(settings: UpstreamSettings, rest: string): string {
  return isDockerHubUrl(settings.url) && !settings.remoteNamespace && !rest.includes('/') ? `library/${rest}` : rest;
}

/** Two settings that lead to the same upstream client. */
export function upstreamKey(settings: UpstreamSettings): string {
  return JSON.stringify([
    settings.url,
    settings.credentials?.username ?? '',
    settings.credentials?.password ?? '',
    settings.ca ?? '',
    settings.insecure,
  ]);
}
