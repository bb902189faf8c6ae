import { type Digest, parseDigest } from '../../oci/digest.ts';
import type { ByteRange } from '../../storage/driver.ts';
import { renderError } from '../error-handler.ts';
import type { HandlerContext } from './context.ts';
import { parseByteRange } from './range.ts';

export async function headBlob(context: HandlerContext, name: string, reference: string): Promise<void> {
  const digest = parseDigest(reference);
  const size = await context.registry.statBlob(name, digest);
  context.reply.code(200).headers(blobHeaders(digest, size)).header('Content-Type', 'application/octet-stream').send();
}

export async function getBlob(context: HandlerContext, name: string, reference: string): Promise<void> {
  const { registry, request, reply } = context;
  const digest = parseDigest(reference);
  const size = await registry.statBlob(name, digest);
  if (request.headers['if-none-match'] === `"${digest}"`) {
    reply.code(304).headers(blobHeaders(digest, size)).send();
    return;
  }
  const redirect = await registry.blobRedirectURL(digest, 'GET');
  if (redirect) {
    reply.code(307).header('Location', redirect).header('Docker-Content-Digest', digest).send();
    return;
  }
  const range = parseByteRange(request.headers.range, size);
  reply.headers(blobHeaders(digest, size)).header('Content-Type', 'application/octet-stream');
  if (range) {
    reply
      .code(206)
      .header('Content-Length', range.end - range.start + 1)
      .header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
  } else {
    reply.code(200);
  }
  await sendBody(context, digest, range);
}

/**
 * Streams the blob straight into the socket, bypassing Fastify's payload handling: the storage's
 * fast path reuses its buffers, which only works when it writes into the response itself. Headers
 * set so far (the handler's and the hooks') go out with the first byte; logs and metrics are
 * recorded when the response closes.
 */
async function sendBody(context: HandlerContext, digest: Digest, range: ByteRange | undefined): Promise<void> {
  const { registry, reply, request } = context;
  const response = reply.raw;
  reply.hijack();
  response.statusCode = reply.statusCode;
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) response.setHeader(name, value);
  }
  try {
    await registry.sendBlob(digest, range, response);
  } catch (error) {
    if (!response.headersSent) {
      // Nothing went out yet (the bytes were missing): answer with the error as usual.
      const rendered = renderError(error);
      if (rendered.status >= 500) request.log.error({ err: error }, 'request failed');
      response.removeHeader('Content-Length');
      response.removeHeader('Content-Range');
      response.writeHead(rendered.status, { ...rendered.headers, 'Content-Type': 'application/json; charset=utf-8' });
      response.end(rendered.body);
      return;
    }
    request.log.warn({ err: error }, 'blob download ended early');
    response.destroy();
    return;
  }
  response.end();
}

export async function deleteBlob(context: HandlerContext, name: string, reference: string): Promise<void> {
  const digest = parseDigest(reference);
  await context.registry.deleteBlob(name, digest);
  context.reply.code(202).header('Docker-Content-Digest', digest).header('Content-Length', 0).send();
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
