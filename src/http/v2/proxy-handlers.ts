import { pipeline } from 'node:stream/promises';
import { parseDigest } from '../../oci/digest.ts';
import { parseAccept } from '../../oci/negotiation.ts';
import type { BlobInFlight } from '../../replication/proxy/blob-cache.ts';
import type { ManifestDescription } from '../../replication/proxy/manifest-cache.ts';
import type { ProxyTarget } from '../../replication/proxy/proxy-target.ts';
import type { PullThroughCache } from '../../replication/proxy/pull-through-cache.ts';
import { getBlob } from './blob-handlers.ts';
import type { HandlerContext } from './context.ts';
import { nextLink, parsePage } from './pagination.ts';
import { parseByteRange } from './range.ts';
import type { Route } from './route-table.ts';

/** Tags listed from the upstream, whole unless the client pages (as for any repository). */
const tagsMaxPage = 100_000;

/**
 * Serves the reads of a proxied repository through the pull-through cache; returns false for
 * requests it leaves to the ordinary handlers (deletes, referrers), which then act on the cached
 * repository.
 */
export async function dispatchProxied(
  context: HandlerContext,
  cache: PullThroughCache,
  target: ProxyTarget,
  route: Route,
  method: string,
): Promise<boolean> {
  const read = method === 'GET' || method === 'HEAD';
  if (!read) return false;
  switch (route.kind) {
    case 'manifest':
      await proxiedManifest(context, cache, target, route.reference, method);
      return true;
    case 'blob':
      if (method === 'HEAD') await proxiedBlobHead(context, cache, target, route.digest);
      else await proxiedBlob(context, cache, target, route.digest);
      return true;
    case 'tags':
      await proxiedTags(context, cache, target, route.name);
      return true;
    default:
      return false;
  }
}

async function proxiedManifest(
  context: HandlerContext,
  cache: PullThroughCache,
  target: ProxyTarget,
  reference: string,
  method: string,
): Promise<void> {
  const { request, reply } = context;
  const accepted = parseAccept(request.headers.accept);
  if (method === 'HEAD') {
    // Asking whether an image exists does not pull it into the cache.
    const head = await cache.manifestHead(target, reference, accepted);
    reply.headers(manifestHeaders(head)).code(200).send();
    return;
  }
  const manifest = await cache.manifest(target, reference, accepted);
  reply.headers(manifestHeaders(manifest));
  if (request.headers['if-none-match'] === `"${manifest.digest}"`) {
    reply.code(304).send();
    return;
  }
  reply.code(200).send(manifest.payload);
}

function manifestHeaders(manifest: ManifestDescription): Record<string, string | number> {
  return {
    'Content-Type': manifest.mediaType,
    'Content-Length': manifest.size,
    'Docker-Content-Digest': manifest.digest,
    ETag: `"${manifest.digest}"`,
  };
}

async function proxiedBlobHead(
  context: HandlerContext,
  cache: PullThroughCache,
  target: ProxyTarget,
  reference: string,
): Promise<void> {
  const digest = parseDigest(reference);
  const size = await cache.statBlob(target, digest);
  context.reply.code(200).headers(blobHeaders(digest, size)).header('Content-Type', 'application/octet-stream').send();
}

async function proxiedBlob(
  context: HandlerContext,
  cache: PullThroughCache,
  target: ProxyTarget,
  reference: string,
): Promise<void> {
  const digest = parseDigest(reference);
  const blob = await cache.blob(target, digest);
  if (blob.stored) {
    await getBlob(context, target.localName, digest);
    return;
  }
  await sendDownload(context, digest, blob.download);
}

/**
 * Streams a blob while it arrives from the upstream, straight into the socket like a stored blob.
 * A puller that goes away leaves the download running: the cache still stores the blob.
 */
async function sendDownload(context: HandlerContext, digest: string, download: BlobInFlight): Promise<void> {
  const { request, reply } = context;
  const range = parseByteRange(request.headers.range, download.size);
  reply.headers(blobHeaders(digest, download.size)).header('Content-Type', 'application/octet-stream');
  if (range) {
    reply
      .code(206)
      .header('Content-Length', range.end - range.start + 1)
      .header('Content-Range', `bytes ${range.start}-${range.end}/${download.size}`);
  } else {
    reply.code(200);
  }
  const response = reply.raw;
  reply.hijack();
  response.statusCode = reply.statusCode;
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) response.setHeader(name, value);
  }
  const source = download.read(range?.start, range?.end);
  try {
    await pipeline(source, response);
  } catch (error) {
    request.log.warn({ err: error, digest }, 'a proxied blob download ended early');
    source.destroy();
    response.destroy();
  }
}

async function proxiedTags(
  context: HandlerContext,
  cache: PullThroughCache,
  target: ProxyTarget,
  name: string,
): Promise<void> {
  const page = parsePage(context.query, tagsMaxPage, tagsMaxPage);
  const tags = await cache.listTags(target, page);
  const link = nextLink(`/v2/${name}/tags/list`, page, tags);
  if (link) context.reply.header('Link', link);
  context.reply.code(200).send({ name, tags });
}

function blobHeaders(digest: string, size: number): Record<string, string | number> {
  return {
    'Content-Length': size,
    'Docker-Content-Digest': digest,
    ETag: `"${digest}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
}
