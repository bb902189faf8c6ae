import { RegistryError } from '../../oci/errors.ts';
import type { ChunkRange } from '../../registry/upload-sessions.ts';
import type { ByteRange } from '../../storage/driver.ts';

/**
 * A single `Range: bytes=...` request against a blob of `size` bytes. Multiple ranges and
 * malformed headers are ignored (RFC 9110 allows serving the whole body); an unsatisfiable range
 * is a 416.
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  let range: ByteRange;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) throw unsatisfiable(size);
    range = { start: Math.max(size - suffix, 0), end: size - 1 };
  } else {
    const start = Number(first);
    const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) return undefined;
    range = { start, end };
  }
  if (range.start >= size || !Number.isSafeInteger(range.start)) throw unsatisfiable(size);
  return range;
}

function unsatisfiable(size: number): RegistryError {
  return new RegistryError('RANGE_INVALID', `requested range not satisfiable for a blob of ${size} bytes`, {
    status: 416,
    headers: { 'Content-Range': `bytes */${size}` },
  });
}

/** An upload chunk's `Content-Range: <start>-<end>` (inclusive), the form the distribution-spec defines. */
export function parseChunkRange(header: string | undefined): ChunkRange | undefined {
  if (header === undefined) return undefined;
  const match = /^(\d+)-(\d+)$/.exec(header.trim());
  if (!match) throw malformedRange(header);
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start || !Number.isSafeInteger(end)) throw malformedRange(header);
  return { start, end };
}

function malformedRange(header: string): RegistryError {
  return new RegistryError(
    'BLOB_UPLOAD_INVALID',
    `malformed Content-Range "${header.slice(0, 100)}": expected <start>-<end>`,
  );
}
