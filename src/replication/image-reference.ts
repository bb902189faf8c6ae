import { type Digest, isDigest, parseDigest } from '../oci/digest.ts';
import { isRepositoryName, isTag } from '../oci/reference.ts';
import { canonicalRegistryHost, looksLikeRegistryHost, normalizeRepository } from './client/registry-host.ts';
import { TransportError } from './transport-error.ts';

/** `docker://registry/repository[:tag][@digest]`: a repository of a registry (or the whole registry, for sync). */
export interface DockerReference {
  transport: 'docker';
  /** As written (`registry.example.com:5000`, `docker.io`). */
  registry: string;
  /** Empty when only the registry was named (`docker://registry.example.com`). */
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** `oci:DIR[:NAME]` or `oci-archive:FILE[:NAME]`: an image layout, NAME its index.json ref name. */
export interface LayoutReference {
  transport: 'oci' | 'oci-archive';
  path: string;
  /** Empty when no name was given. */
  name: string;
}

export type ImageReference = DockerReference | LayoutReference;

/**
 * Parses a transport reference as skopeo writes it. A docker reference without a registry host is
 * on Docker Hub (`docker://alpine` is docker.io/library/alpine); a layout's path ends at the first
 * colon after the transport, so the name may itself hold colons (`oci-archive:b.tar:team/app:v1`).
 */
export function parseImageReference(text: string, options: { repositoryOptional?: boolean } = {}): ImageReference {
  if (text.startsWith('docker://')) return parseDocker(text.slice('docker://'.length), text, options);
  for (const transport of ['oci-archive', 'oci'] as const) {
    if (text.startsWith(`${transport}:`)) {
      const rest = text.slice(transport.length + 1);
      const colon = rest.indexOf(':');
      const path = colon < 0 ? rest : rest.slice(0, colon);
      const name = colon < 0 ? '' : rest.slice(colon + 1);
      if (path === '') throw new TransportError('usage', `${text}: the ${transport} transport needs a path`);
      return { transport, path, name };
    }
  }
  throw new TransportError(
    'usage',
    `"${text}" is not an image reference: expected docker://REGISTRY/REPOSITORY[:TAG|@DIGEST], oci:DIR[:NAME] or oci-archive:FILE[:NAME]`,
  );
}

function parseDocker(rest: string, text: string, options: { repositoryOptional?: boolean }): DockerReference {
  let remainder = rest.replace(/\/+$/, '');
  let digest: Digest | undefined;
  const at = remainder.indexOf('@');
  if (at >= 0) {
    const digestText = remainder.slice(at + 1);
    if (!isDigest(digestText)) throw new TransportError('usage', `${text}: invalid digest "${digestText}"`);
    digest = parseDigest(digestText);
    remainder = remainder.slice(0, at);
  }
  const slash = remainder.indexOf('/');
  const first = slash < 0 ? remainder : remainder.slice(0, slash);
  let registry: string;
  let path: string;
  // Alone, `name:tag` is a Docker Hub image; `host.example`, `localhost:5000` or `10.0.0.1:5000` a registry.
  const registryAlone = slash < 0 && looksLikeRegistryHost(first.split(':', 1)[0] ?? '');
  if (registryAlone && !options.repositoryOptional) {
    throw new TransportError('usage', `${text}: names a registry but no repository (docker://REGISTRY/REPOSITORY)`);
  }
  if (registryAlone || (slash >= 0 && looksLikeRegistryHost(first))) {
    registry = first;
    path = slash < 0 ? '' : remainder.slice(slash + 1);
  } else {
    registry = 'docker.io';
    path = remainder;
  }
  let tag: string | undefined;
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!isTag(tag)) throw new TransportError('usage', `${text}: invalid tag "${tag}"`);
  }
  const repository = path === '' ? '' : normalizeRepository(registry, path);
  if (repository === '' && !options.repositoryOptional) {
    throw new TransportError('usage', `${text}: no repository (docker://REGISTRY/REPOSITORY[:TAG])`);
  }
  if (repository !== '' && !isRepositoryName(repository)) {
    throw new TransportError('usage', `${text}: invalid repository name "${repository}"`);
  }
  return { transport: 'docker', registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** `docker://registry/repository:tag` (or `@digest`), for messages. */
export function formatDockerReference(registry: string, repository: string, reference?: string): string {
  const suffix = reference === undefined ? '' : reference.includes(':') ? `@${reference}` : `:${reference}`;
  return `docker://${canonicalRegistryHost(registry)}/${repository}${suffix}`;
}
