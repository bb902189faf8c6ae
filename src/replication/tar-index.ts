import type { FileHandle } from 'node:fs/promises';
import { TransportError } from './transport-error.ts';

/** Where a regular file's bytes are inside a tar archive. */
export interface TarEntry {
  offset: number;
  size: number;
}

const block = 512;

/**
 * Lists the regular files of a tar archive by reading only its headers (512 bytes each) and
 * seeking over the contents, so a multi-GiB archive is indexed in a few reads and each file can
 * then be streamed straight from its offset. Understands ustar, POSIX pax (`path`, `size`
 * records) and GNU long names, as written by Go's archive/tar (skopeo), GNU tar and tar-stream.
 * A later entry of the same name wins, as when extracting.
 */
export async function indexTar(handle: FileHandle, description: string): Promise<Map<string, TarEntry>> {
  const entries = new Map<string, TarEntry>();
  const { size: fileSize } = await handle.stat();
  const header = Buffer.alloc(block);
  let position = 0;
  let pending: { path?: string; size?: number } = {};
  let globalPax: { path?: string; size?: number } = {};
  while (position + block <= fileSize) {
    const { bytesRead } = await handle.read(header, 0, block, position);
    if (bytesRead < block) break;
    if (header.every((byte) => byte === 0)) break;
    if (!checksumMatches(header)) {
      throw new TransportError(
        'invalid',
        `${description} is not a tar archive (bad header checksum at byte ${position})`,
      );
    }
    const type = String.fromCharCode(header[156] ?? 0);
    const isMeta = type === 'x' || type === 'g' || type === 'L' || type === 'K';
    const headerSize = parseSize(header.subarray(124, 136));
    const size = isMeta ? headerSize : (pending.size ?? headerSize);
    const dataOffset = position + block;
    const next = dataOffset + Math.ceil(size / block) * block;
    if (dataOffset + size > fileSize) throw new TransportError('invalid', `${description} is truncated`);
    if (type === 'x' || type === 'g') {
      const records = parsePax(await readAt(handle, dataOffset, size));
      if (type === 'x') pending = { ...pending, ...records };
      else globalPax = { ...globalPax, ...records };
    } else if (type === 'L') {
      pending.path = (await readAt(handle, dataOffset, size)).toString('utf8').replace(/\0+$/, '');
    } else if (type !== 'K') {
      if (type === '0' || type === '\0' || type === '7') {
        const name = normalize(pending.path ?? globalPax.path ?? headerName(header));
        entries.set(name, { offset: dataOffset, size });
      }
      pending = {};
    }
    position = next;
  }
  return entries;
}

async function readAt(handle: FileHandle, offset: number, length: number): Promise<Buffer> {
  if (length > 1024 * 1024) throw new TransportError('invalid', 'a tar extended header is larger than 1 MiB');
  const buffer = Buffer.alloc(length);
  await handle.read(buffer, 0, length, offset);
  return buffer;
}

function headerName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  const isUstar = header.subarray(257, 262).toString('latin1') === 'ustar';
  const prefix = isUstar ? cString(header.subarray(345, 500)) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

function normalize(path: string): string {
  return path.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}

/** Octal text, or base-256 (high bit set) for sizes beyond 8 GiB. */
function parseSize(field: Buffer): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = (field[0] ?? 0) & 0x7f;
    for (let index = 1; index < field.length; index += 1) value = value * 256 + (field[index] ?? 0);
    return value;
  }
  const text = cString(field).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function checksumMatches(header: Buffer): boolean {
  const recorded = Number.parseInt(cString(header.subarray(148, 156)).trim(), 8);
  let sum = 0;
  for (let index = 0; index < block; index += 1) sum += index >= 148 && index < 156 ? 0x20 : (header[index] ?? 0);
  return recorded === sum;
}

/** pax records, `LENGTH key=value\n`; only the two that locate a file matter here. */
function parsePax(data: Buffer): { path?: string; size?: number } {
  const result: { path?: string; size?: number } = {};
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number.parseInt(data.subarray(offset, space).toString('latin1'), 10);
    if (!Number.isSafeInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    const key = record.slice(0, equals);
    const value = record.slice(equals + 1);
    if (key === 'path') result.path = value;
    if (key === 'size' && /^\d+$/.test(value)) result.size = Number(value);
    offset += length;
  }
  return result;
}
