import { parseDigest } from '../../oci/digest.ts';
import { RegistryError } from '../../oci/errors.ts';
import { parseRepositoryName } from '../../oci/reference.ts';
import { rangeHeader } from '../../registry/upload-sessions.ts';
import { type HandlerContext, locationOf, repositoryPath } from './context.ts';
import { parseChunkRange } from './range.ts';
import { contentLength, hasBody } from './request-body.ts';
import { type UploadState, uploadStateParameter } from './upload-state.ts';

/** POST /v2/<name>/blobs/uploads/: a session, a monolithic push (?digest=) or a mount (?mount=). */
export async function startUpload(context: HandlerContext, name: string): Promise<void> {
  const { registry, request, query } = context;
  const mount = query.get('mount');
  if (mount !== null) {
    const digest = parseDigest(mount);
    const fromParam = query.get('from');
    const from = fromParam === null || fromParam === '' ? undefined : parseRepositoryName(fromParam);
    // Mount only what the caller could read anyway; otherwise a normal upload, revealing nothing.
    const mayRead = (repositories: readonly string[]) => context.access.mayPullAny(context.principal, repositories);
    if ((await registry.mountBlob(name, digest, from, mayRead)) !== undefined) {
      request.raw.resume();
      return blobCreated(context, name, digest);
    }
  }
  const digestParam = query.get('digest');
  if (digestParam !== null && mount === null) {
    const digest = parseDigest(digestParam);
    await registry.pushBlob(name, digest, request.raw, contentLength(request.raw));
    return blobCreated(context, name, digest);
  }
  request.raw.resume();
  const id = await registry.startUpload(name);
  uploadAccepted(context, { name, id, offset: 0, startedAt: Date.now() });
}

/** GET: how far the upload got. */
export async function uploadStatus(context: HandlerContext, name: string, id: string): Promise<void> {
  const startedAt = resumeUpload(context, name, id);
  const size = await context.registry.uploadSize(name, id);
  context.reply
    .code(204)
    .header('Location', uploadLocation(context, { name, id, offset: size, startedAt }))
    .header('Range', rangeHeader(size))
    .header('Docker-Upload-UUID', id)
    .header('Content-Length', 0)
    .send();
}

/** PATCH: a chunk (with Content-Range) or the rest of the blob as one stream (without). */
export async function appendUpload(context: HandlerContext, name: string, id: string): Promise<void> {
  const { registry, request } = context;
  const startedAt = resumeUpload(context, name, id);
  const range = parseChunkRange(request.headers['content-range']);
  const size = await registry.appendUpload(name, id, request.raw, {
    range,
    contentLength: contentLength(request.raw),
  });
  uploadAccepted(context, { name, id, offset: size, startedAt });
}

/** PUT ?digest=: the last chunk, if any, then verification and commit. */
export async function completeUpload(context: HandlerContext, name: string, id: string): Promise<void> {
  const { registry, request, query } = context;
  resumeUpload(context, name, id);
  const digestParam = query.get('digest');
  if (digestParam === null) {
    request.raw.resume();
    throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
  }
  const digest = parseDigest(digestParam);
  const body = hasBody(request.raw) ? request.raw : undefined;
  if (!body) request.raw.resume();
  await registry.completeUpload(name, id, digest, body, body ? contentLength(request.raw) : undefined);
  blobCreated(context, name, digest);
}

export async function cancelUpload(context: HandlerContext, name: string, id: string): Promise<void> {
  context.request.raw.resume();
  resumeUpload(context, name, id);
  await context.registry.cancelUpload(name, id);
  context.reply.code(204).header('Content-Length', 0).send();
}

/**
 * Checks the `_state` the client echoed from its last Location (UploadStateSigner.verify) and
 * returns when the upload started, for the next Location; a request without a state starts the
 * count again.
 */
function resumeUpload(context: HandlerContext, name: string, id: string): number {
  try {
    return context.options.uploadState.verify(context.query, name, id)?.startedAt ?? Date.now();
  } catch (error) {
    context.request.raw.resume();
    throw error;
  }
}

function uploadAccepted(context: HandlerContext, state: UploadState): void {
  context.reply
    .code(202)
    .header('Location', uploadLocation(context, state))
    .header('Range', rangeHeader(state.offset))
    .header('Docker-Upload-UUID', state.id)
    .header('Content-Length', 0)
    .send();
}

function blobCreated(context: HandlerContext, name: string, digest: string): void {
  context.reply
    .code(201)
    .header('Location', locationOf(context, repositoryPath(name, `blobs/${digest}`)))
    .header('Docker-Content-Digest', digest)
    .header('Content-Length', 0)
    .send();
}

/** Every Location of an upload carries a fresh signed state, so any instance can take the next request. */
function uploadLocation(context: HandlerContext, state: UploadState): string {
  const token = encodeURIComponent(context.options.uploadState.sign(state));
  return locationOf(
    context,
    `${repositoryPath(state.name, `blobs/uploads/${state.id}`)}?${uploadStateParameter}=${token}`,
  );
}
