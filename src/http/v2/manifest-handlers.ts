import { maxManifestBytes } from '../../oci/manifest.ts';
import { parseAccept } from '../../oci/negotiation.ts';
import { type HandlerContext, locationOf, repositoryPath } from './context.ts';
import { pullReaderOf } from './pull-reader.ts';
import { readLimitedBody } from './request-body.ts';

export async function headManifest(context: HandlerContext, name: string, reference: string): Promise<void> {
  const manifest = await context.registry.statManifest(
    name,
    reference,
    parseAccept(context.request.headers.accept),
    pullReaderOf(context, name),
  );
  context.reply
    .code(200)
    .headers(manifestHeaders(manifest.digest, manifest.mediaType, manifest.size))
    .send();
}

export async function getManifest(context: HandlerContext, name: string, reference: string): Promise<void> {
  const { request, reply } = context;
  const manifest = await context.registry.getManifest(
    name,
    reference,
    parseAccept(request.headers.accept),
    pullReaderOf(context, name),
  );
  reply.headers(manifestHeaders(manifest.digest, manifest.mediaType, manifest.size));
  if (request.headers['if-none-match'] === `"${manifest.digest}"`) {
    reply.code(304).send();
    return;
  }
  reply.code(200).send(manifest.payload);
}

export async function putManifest(context: HandlerContext, name: string, reference: string): Promise<void> {
  const { request, reply } = context;
  const payload = await readLimitedBody(request.raw, maxManifestBytes, 'manifest');
  const { digest, subject } = await context.registry.putManifest(
    name,
    reference,
    payload,
    request.headers['content-type'],
  );
  reply
    .code(201)
    .header('Location', locationOf(context, repositoryPath(name, `manifests/${digest}`)))
    .header('Docker-Content-Digest', digest)
    .header('Content-Length', 0);
  if (subject) reply.header('OCI-Subject', subject);
  reply.send();
}

export async function deleteManifest(context: HandlerContext, name: string, reference: string): Promise<void> {
  context.request.raw.resume();
  await context.registry.deleteManifest(name, reference);
  context.reply.code(202).header('Content-Length', 0).send();
}

function manifestHeaders(digest: string, mediaType: string, size: number): Record<string, string | number> {
  return {
    'Content-Type': mediaType,
    'Content-Length': size,
    'Docker-Content-Digest': digest,
    ETag: `"${digest}"`,
  };
}
