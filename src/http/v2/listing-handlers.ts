import type { Page } from '../../metadata/metadata-store.ts';
import { parseDigest } from '../../oci/digest.ts';
import { MediaTypes } from '../../oci/media-types.ts';
import type { HandlerContext } from './context.ts';
import { nextLink, parsePage } from './pagination.ts';

/** Distribution's catalog page size when the client gives no `n`, and the most it will return. */
const catalogDefaultPage = 100;
const catalogMaxPage = 1000;
/** Tags are listed whole unless the client pages (as Distribution does). */
const tagsMaxPage = 100_000;
const referrersDefaultPage = 1000;

export async function listTags(context: HandlerContext, name: string): Promise<void> {
  const page = parsePage(context.query, tagsMaxPage, tagsMaxPage);
  const tags = await context.registry.listTags(name, page);
  const link = nextLink(`/v2/${name}/tags/list`, page, tags);
  if (link) context.reply.header('Link', link);
  context.reply.code(200).send({ name, tags });
}

export async function listCatalog(context: HandlerContext): Promise<void> {
  const page = parsePage(context.query, catalogDefaultPage, catalogMaxPage);
  const repositories = await visibleRepositories(context, page);
  const link = nextLink('/v2/_catalog', page, repositories);
  if (link) context.reply.header('Link', link);
  context.reply.code(200).send({ repositories });
}

export async function listReferrers(context: HandlerContext, name: string, reference: string): Promise<void> {
  const { query, reply } = context;
  const subject = parseDigest(reference);
  const artifactType = query.get('artifactType') || undefined;
  const page = parsePage(query, referrersDefaultPage, referrersDefaultPage);
  const result =
    page.limit === 0
      ? { manifests: [], next: undefined }
      : await context.registry.listReferrers(name, subject, artifactType, page);
  if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
  if (result.next !== undefined) {
    const params = new URLSearchParams({ n: String(page.limit), last: result.next });
    if (artifactType !== undefined) params.set('artifactType', artifactType);
    reply.header('Link', `</v2/${name}/referrers/${subject}?${params.toString()}>; rel="next"`);
  }
  reply
    .code(200)
    .header('Content-Type', MediaTypes.ociIndex)
    .send(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: result.manifests })),
    );
}

/** A catalog page of the repositories the caller may pull, reading further pages to fill it. */
async function visibleRepositories(context: HandlerContext, page: Page): Promise<string[]> {
  const visible: string[] = [];
  let after = page.after;
  while (visible.length < page.limit) {
    const batch = await context.registry.listRepositories({ limit: page.limit, after });
    visible.push(...(await context.access.filterPullable(context.principal, batch)));
    if (batch.length < page.limit) break;
    after = batch.at(-1);
  }
  return visible.slice(0, page.limit);
}
