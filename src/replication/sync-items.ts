import { isDigest } from '../oci/digest.ts';
import { isRepositoryName, isTag } from '../oci/reference.ts';
import { parseBundleRefName } from './bundle-ref-name.ts';
import { isReferrersFallbackTag } from './client/index.ts';
import type { ImageSource } from './image-transport.ts';
import type { LayoutSource } from './layout-source.ts';
import { TransportError } from './transport-error.ts';

/** One image of a sync, export or import: where to read it and what it is called. */
export interface SyncItem {
  source: ImageSource;
  /** What to read from the source: a tag, digest or (layouts) ref name. */
  reference: string;
  /** The repository the image belongs to; undefined for a layout entry named by a bare tag. */
  repository: string | undefined;
  /** Its tag, or its digest when it has no tag. */
  tagOrDigest: string;
}

/** A repository source that can list its tags (a registry over HTTP, or the local RegistryService). */
export interface TaggedSource extends ImageSource {
  tags(): AsyncIterable<string>;
}

/** `team/app` (every tag) or `team/app:v1` / `team/app@sha256:…` (one image). */
export interface RepositorySelector {
  repository: string;
  reference?: string;
}

/**
 * The images of the selected repositories: the named tag or digest, or every tag the filter
 * takes, listed page by page as the source gives them. Referrers fallback tags are not images of
 * their own: they come along with the images they describe.
 */
export async function* repositoryItems(
  selectors: AsyncIterable<RepositorySelector> | Iterable<RepositorySelector>,
  open: (repository: string) => Promise<TaggedSource>,
  takeTag: (tag: string) => boolean,
): AsyncGenerator<SyncItem> {
  for await (const selector of selectors) {
    const source = await open(selector.repository);
    if (selector.reference !== undefined) {
      yield { source, reference: selector.reference, repository: selector.repository, tagOrDigest: selector.reference };
      continue;
    }
    for await (const tag of source.tags()) {
      if (!isReferrersFallbackTag(tag) && takeTag(tag))
        yield { source, reference: tag, repository: selector.repository, tagOrDigest: tag };
    }
  }
}

/** Every named image of a layout or archive whose tag the filter takes. */
export async function* layoutItems(layout: LayoutSource, takeTag: (tag: string) => boolean): AsyncGenerator<SyncItem> {
  for (const { name } of await layout.namedImages()) {
    const parsed = parseBundleRefName(name);
    if (parsed === undefined) {
      throw new TransportError('invalid', `${layout.description}: cannot tell the repository and tag of "${name}"`);
    }
    const isTagged = !isDigest(parsed.reference);
    if (isTagged && (isReferrersFallbackTag(parsed.reference) || !takeTag(parsed.reference))) continue;
    yield { source: layout, reference: name, repository: parsed.repository, tagOrDigest: parsed.reference };
  }
}

/** `team/app`, `team/app:v1` or `team/app@sha256:…` as a selector. */
export function parseRepositorySelector(text: string): RepositorySelector {
  const at = text.indexOf('@');
  const colon = text.indexOf(':', text.lastIndexOf('/') + 1);
  const cut = at >= 0 ? at : colon;
  const repository = cut >= 0 ? text.slice(0, cut) : text;
  const reference = cut >= 0 ? text.slice(cut + 1) : undefined;
  const valid =
    isRepositoryName(repository) && (reference === undefined || (at >= 0 ? isDigest(reference) : isTag(reference)));
  if (!valid) throw new TransportError('usage', `"${text}" is not REPOSITORY[:TAG|@DIGEST]`);
  return reference === undefined ? { repository } : { repository, reference };
}
