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
    discard(request);
    throw tooLarge();
  }
  // Not `for await`: leaving that loop early destroys the request, and the client never reads the 413.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= limit) {
        chunks.push(chunk);
        return;
      }
      cleanup();
      discard(request);
      reject(tooLarge());
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, total));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}

/** Past this, an oversized body is not worth reading to keep the connection: it is cut instead. */
const maxDiscardedBytes = 64 * 1024 * 1024;

/**
 * Reads and drops the rest of a refused body so the client can read the error answer; a client that
 * keeps sending far past the limit gets its connection closed.
 */
function discard(request: IncomingMessage): void {
  let dropped = 0;
  request.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > maxDiscardedBytes) request.socket.destroy();
  });
  request.resume();
}
