import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

/** One built file of the UI, held in memory: the whole build is a few hundred KiB. */
export interface UiFile {
  body: Buffer;
  /** The same bytes gzipped, when that is smaller. */
  gzipped: Buffer | undefined;
  contentType: string;
  etag: string;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Files bigger than this are not UI assets; leaving them out bounds the memory the UI holds. */
const maxFileBytes = 4 * 1024 * 1024;

/**
 * Every file of the built UI by its path below the build directory (`index.html`,
 * `assets/index-1a2b3c.js`), or undefined when there is no build. Requests are answered from this
 * map only, so no request path is ever joined to a directory and nothing outside it can be read.
 */
export async function loadUiFiles(directory: string): Promise<Map<string, UiFile> | undefined> {
  let paths: string[];
  try {
    paths = await listFiles(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const files = new Map<string, UiFile>();
  for (const path of paths) {
    const contentType = contentTypes[extname(path).toLowerCase()];
    if (contentType === undefined) continue;
    const body = await readFile(path);
    if (body.length > maxFileBytes) continue;
    const compressed = /^(?:text\/|application\/json|image\/svg)/.test(contentType) ? gzipSync(body) : undefined;
    files.set(relative(directory, path).split(sep).join('/'), {
      body,
      gzipped: compressed && compressed.length < body.length ? compressed : undefined,
      contentType,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    });
  }
  return files.has('index.html') ? files : undefined;
}

async function listFiles(directory: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) found.push(...(await listFiles(path)));
    else if (entry.isFile()) found.push(path);
  }
  return found;
}
