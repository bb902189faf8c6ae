/**
 * Registry host names as users write them and as the network needs them. Docker Hub answers the
 * registry API on registry-1.docker.io, is called docker.io in image references, and its
 * credentials are stored under https://index.docker.io/v1/; single-name repositories there live
 * under `library/`.
 */

const dockerHubAliases = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The name credentials and messages use: `docker.io` for Docker Hub, the host (and port) otherwise. */
export function canonicalRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  return dockerHubAliases.has(lower) ? 'docker.io' : lower;
}

/** The host that serves the registry API. */
export function apiHost(host: string): string {
  return canonicalRegistryHost(host) === 'docker.io' ? 'registry-1.docker.io' : host;
}

export function isDockerHub(host: string): boolean {
  return canonicalRegistryHost(host) === 'docker.io';
}

/** `alpine` on Docker Hub is `library/alpine`; elsewhere a name is what it says. */
export function normalizeRepository(host: string, repository: string): string {
  return isDockerHub(host) && !repository.includes('/') ? `library/${repository}` : repository;
}

/**
 * The base URL of a registry: an `http(s)://` URL is taken as given (without a trailing slash); a
 * bare `host[:port]` means HTTPS.
 */
export function registryBaseUrl(registry: string): URL {
  if (/^https?:\/\//i.test(registry)) {
    const url = new URL(registry);
    url.pathname = url.pathname.replace(/\/+$/, '');
    url.search = '';
    url.hash = '';
    return url;
  }
  return new URL(`https://${apiHost(registry)}`);
}

/** Whether the text names a registry host rather than a first path component (`localhost`, `a.b`, `h:5000`). */
export function looksLikeRegistryHost(component: string): boolean {
  return component === 'localhost' || component.includes('.') || component.includes(':');
}
