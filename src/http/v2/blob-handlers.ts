import { parseDigest } from '../../oci/digest.ts';
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
  const blob = await registry.openBlob(name, digest, range);
  reply.headers(blobHeaders(digest, size)).header('Content-Type', 'application/octet-stream');
  if (range) {
    reply
      .code(206)
      .header('Content-Length', range.end - range.start + 1)
      .header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
  } else {
    reply.code(200);
  }
  return reply.send(blob.stream);
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
