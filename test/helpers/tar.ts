import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const blockSize = 512;
/** A fixed mtime (2024-01-01T00:00:00Z) so the same files always give the same tar bytes. */
const fixedMtime = 1_704_067_200;

export type FileContent = string | Uint8Array;

/**
 * Writes a POSIX ustar archive of `files` (path → content), parent directories
 * included, entries sorted by path, owner root and a fixed mtime: equal input
 * gives equal bytes, which is what makes layer digests stable between runs.
 */
export function tarFiles(files: Record<string, FileContent>): Buffer {
  const entries = new Map<string, Buffer | null>();
  for (const [rawPath, content] of Object.entries(files)) {
    const path = rawPath.replace(/^\/+/, '');
    const parts = path.split('/');
    for (let depth = 1; depth < parts.length; depth++) entries.set(`${parts.slice(0, depth).join('/')}/`, null);
    entries.set(path, typeof content === 'string' ? Buffer.from(content) : Buffer.from(content));
  }
  const chunks: Buffer[] = [];
  for (const path of [...entries.keys()].sort()) {
    const content = entries.get(path) ?? null;
    chunks.push(header(path, content));
    if (content) {
      chunks.push(content);
      const padding = (blockSize - (content.length % blockSize)) % blockSize;
      chunks.push(Buffer.alloc(padding));
    }
  }
  chunks.push(Buffer.alloc(blockSize * 2));
  return Buffer.concat(chunks);
}

/** GNU tar of a real directory, with the flags that make its output reproducible. */
export async function tarDirectory(dir: string): Promise<Buffer> {
  const { stdout } = await execFileAsync(
    'tar',
    [
      '--create',
      '--file=-',
      '--format=posix',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      '--sort=name',
      `--mtime=@${fixedMtime}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      `--directory=${dir}`,
      '.',
    ],
    { encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024 },
  );
  return stdout;
}

function header(path: string, content: Buffer | null): Buffer {
  const block = Buffer.alloc(blockSize);
  const { name, prefix } = splitName(path);
  block.write(name, 0, 100, 'utf8');
  writeOctal(block, content ? 0o644 : 0o755, 100, 8);
  writeOctal(block, 0, 108, 8);
  writeOctal(block, 0, 116, 8);
  writeOctal(block, content?.length ?? 0, 124, 12);
  writeOctal(block, fixedMtime, 136, 12);
  block.fill(' ', 148, 156);
  block.write(content ? '0' : '5', 156, 1, 'ascii');
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  block.write('root', 265, 32, 'ascii');
  block.write('root', 297, 32, 'ascii');
  block.write(prefix, 345, 155, 'utf8');
  let checksum = 0;
  for (const byte of block) checksum += byte;
  block.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

/** ustar keeps names over 100 bytes by splitting them at a slash into prefix (≤155) and name (≤100). */
function splitName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let cut = path.indexOf('/'); cut !== -1; cut = path.indexOf('/', cut + 1)) {
    const prefix = path.slice(0, cut);
    const name = path.slice(cut + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { name, prefix };
  }
  throw new Error(`path too long for a ustar header: ${path}`);
}

function writeOctal(block: Buffer, value: number, offset: number, length: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}
