import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../../oci/errors.ts';

/** Whether the request carries a body at all (a length, or chunked transfer coding). */
export function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return request.headers['transfer-encoding'] !== undefined;
}

export function contentLength(request: IncomingMessage): number | undefined {
  const value = request.headers['content-length'];
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new RegistryError('SIZE_INVALID', 'Content-Length is not a number', { status: 400 });
  return Number(value);
}

/** Reads a small body (a manifest) into memory, refusing more than `limit` bytes as it arrives. */
export async function readLimitedBody(request: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = contentLength(request);
  const tooLarge = () =>
    new RegistryError('SIZE_INVALID', `${what} larger than ${limit} bytes`, { status: 413, detail: { limit } });
  if (declared !== undefined && declared > limit) {
    request.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      request.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
