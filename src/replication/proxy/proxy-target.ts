import type { RegistryError } from '../../oci/errors.ts';
import type { Upstream } from './upstream.ts';

/** Where a proxied repository's content comes from. */
export type ProxySource = 'project' | 'route' | 'registry' | 'mirror';

/** A repository name the router sent to an upstream. */
export interface ProxyTarget {
  /** The repository the cache keeps the content under; access is checked against it. */
  localName: string;
  /** The upstream's name for the same repository. */
  remoteName: string;
  upstream: Upstream;
  /** How long a cached tag is served before the upstream is asked again. */
  tagTtlMs: number;
  source: ProxySource;
  /** The cache's prefix (project or route), for logs and metrics; '' when the whole registry is a cache. */
  prefix: string;
  /** What a push into the repository is answered with. */
  refusal(): RegistryError;
}
