import { isDigest } from '../oci/digest.ts';
import { isRepositoryName, isTag } from '../oci/reference.ts';
import { looksLikeRegistryHost } from './client/registry-host.ts';

/** A bundle image: the repository it belongs to and its tag or digest. */
export interface BundleImage {
  /** Undefined when the ref name is a bare tag (`latest`), as `skopeo copy … oci-archive:FILE:latest` writes. */
  repository: string | undefined;
  /** A tag or a digest. */
  reference: string;
}

/**
 * The ref name a bundle gives an image: `team/app:v1` or `team/app@sha256:…`. It is a valid OCI
 * ref name and what skopeo takes after `oci-archive:FILE:`, so the bundle round-trips.
 */
export function bundleRefName(repository: string, reference: string): string {
  return reference.includes(':') ? `${repository}@${reference}` : `${repository}:${reference}`;
}

/**
 * Reads a ref name back: `team/app:v1`, `team/app@sha256:…`, a bare tag, or a full reference
 * with a registry host (`registry.example.com:5000/team/app:v1`, whose host is dropped).
 * Undefined when it names no repository and tag this way.
 */
export function parseBundleRefName(name: string): BundleImage | undefined {
  let path = name;
  let reference: string | undefined;
  const at = path.indexOf('@');
  if (at >= 0) {
    reference = path.slice(at + 1);
    path = path.slice(0, at);
    if (!isDigest(reference)) return undefined;
  } else {
    const colon = path.lastIndexOf(':');
    if (colon > path.lastIndexOf('/')) {
      reference = path.slice(colon + 1);
      path = path.slice(0, colon);
    }
  }
  if (reference === undefined) return isTag(path) ? { repository: undefined, reference: path } : undefined;
  if (path === '') return isTag(reference) || isDigest(reference) ? { repository: undefined, reference } : undefined;
  const slash = path.indexOf('/');
  if (slash > 0 && looksLikeRegistryHost(path.slice(0, slash))) path = path.slice(slash + 1);
  if (!isRepositoryName(path)) return undefined;
  if (!isDigest(reference) && !isTag(reference)) return undefined;
  return { repository: path, reference };
}
