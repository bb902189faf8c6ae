import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

/** What one layer says about the files a scan reads. */
export interface LayerFiles {
  /** Wanted files (path without a leading `/`) → their bytes, or a symlink target. */
  files: Map<string, { content: Buffer } | { link: string }>;
  /** Paths this layer deletes from the layers below (`.wh.<name>`). */
  whiteouts: string[];
  /** Directories whose lower contents this layer hides (`.wh..wh..opq`). */
  opaqueDirectories: string[];
}

/** A package database larger than this is not a real one; the scan refuses it rather than buffering it. */
export const maxWantedFileBytes = 64 * 1024 * 1024;

export class LayerFormatError extends Error {}

/** Whether a layer path is one the scan reads: package databases and os-release. */
export function isWantedPath(path: string): boolean {
  return (
    path === 'var/lib/dpkg/status' ||
    (path.startsWith('var/lib/dpkg/status.d/') && !path.endsWith('.md5sums') && path.split('/').length === 5) ||
    path === 'lib/apk/db/installed' ||
    path === 'etc/os-release' ||
    path === 'usr/lib/os-release'
  );
}

export function normalizePath(path: string): string {
  return path.replace(/^(?:\.?\/)+/, '').replace(/\/+$/, '');
}

export type LayerCompression = 'gzip' | 'none';

/** How a layer of this media type is compressed; undefined for layers a scan cannot read (zstd, foreign). */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  if (/\.tar(?:\+|\.)gzip$/.test(mediaType) || mediaType.endsWith('.tar.gz')) return 'gzip';
  if (/\.tar$/.test(mediaType)) return 'none';
  return undefined;
}

/**
 * Reads one layer as a stream, keeping only the wanted files and the whiteouts: every other
 * entry's bytes pass through and are dropped, so memory stays constant whatever the layer's size.
 */
export async function readLayerFiles(layer: Readable, compression: LayerCompression): Promise<LayerFiles> {
  const result: LayerFiles = { files: new Map(), whiteouts: [], opaqueDirectories: [] };
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const path = normalizePath(header.name);
    const slash = path.lastIndexOf('/');
    const base = path.slice(slash + 1);
    const directory = slash >= 0 ? path.slice(0, slash) : '';
    if (base === '.wh..wh..opq') result.opaqueDirectories.push(directory);
    else if (base.startsWith('.wh.'))
      result.whiteouts.push(directory ? `${directory}/${base.slice(4)}` : base.slice(4));
    else if (isWantedPath(path) && header.type === 'symlink' && header.linkname) {
      result.files.set(path, { link: header.linkname });
    } else if (isWantedPath(path) && header.type === 'file') {
      if ((header.size ?? 0) > maxWantedFileBytes) {
        stream.resume();
        next(new LayerFormatError(`${path} is ${header.size} bytes, more than a package database can be`));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        result.files.set(path, { content: Buffer.concat(chunks) });
        next();
      });
      return;
    }
    stream.on('end', () => next());
    stream.resume();
  });
  if (compression === 'gzip') await pipeline(layer, createGunzip(), extract);
  else await pipeline(layer, extract);
  return result;
}
