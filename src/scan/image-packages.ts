import { posix } from 'node:path';
import type { LayerFiles } from './layer-files.ts';
import {
  ecosystemOf,
  type InstalledPackage,
  type ListedPackage,
  type OperatingSystem,
  parseApkInstalled,
  parseDpkgStatus,
  parseOsRelease,
} from './package-databases.ts';

export interface ImagePackages {
  os: OperatingSystem | undefined;
  packages: InstalledPackage[];
}

type FileEntry = { content: Buffer } | { link: string };

/**
 * The image's filesystem as far as the scan reads it, layer over layer: a layer's whiteouts and
 * opaque directories first delete from what the layers below left, then its own files land.
 */
export class LayeredFiles {
  private readonly files = new Map<string, FileEntry>();

  apply(layer: LayerFiles): void {
    for (const directory of layer.opaqueDirectories) this.deleteUnder(directory, false);
    for (const path of layer.whiteouts) this.deleteUnder(path, true);
    for (const [path, entry] of layer.files) this.files.set(path, entry);
  }

  paths(): string[] {
    return [...this.files.keys()];
  }

  /** A file's bytes, following symlinks (relative or absolute) a few hops. */
  read(path: string): Buffer | undefined {
    let current = path;
    for (let hops = 0; hops < 8; hops++) {
      const entry = this.files.get(current);
      if (!entry) return undefined;
      if ('content' in entry) return entry.content;
      current = entry.link.startsWith('/')
        ? posix.normalize(entry.link).slice(1)
        : posix.normalize(posix.join(posix.dirname(current), entry.link));
    }
    return undefined;
  }

  private deleteUnder(path: string, itself: boolean): void {
    const prefix = path === '' ? '' : `${path}/`;
    for (const key of [...this.files.keys()]) {
      if ((itself && key === path) || key.startsWith(prefix)) this.files.delete(key);
    }
  }
}

/** The packages the final filesystem's package databases list, under the OS's ecosystem. */
export function packagesOf(files: LayeredFiles): ImagePackages {
  const osRelease = files.read('etc/os-release') ?? files.read('usr/lib/os-release');
  const os = osRelease ? parseOsRelease(osRelease.toString('utf8')) : undefined;
  const listed: ListedPackage[] = [];
  const dpkg = files.read('var/lib/dpkg/status');
  if (dpkg) listed.push(...parseDpkgStatus(dpkg.toString('utf8')));
  for (const path of files
    .paths()
    .filter((name) => name.startsWith('var/lib/dpkg/status.d/'))
    .sort()) {
    const content = files.read(path);
    if (content) listed.push(...parseDpkgStatus(content.toString('utf8')));
  }
  const apk = files.read('lib/apk/db/installed');
  if (apk) listed.push(...parseApkInstalled(apk.toString('utf8')));
  const packages: InstalledPackage[] = [];
  const seen = new Set<string>();
  for (const item of listed) {
    const ecosystem = ecosystemOf(os, item.type);
    const key = `${item.type}/${item.name}/${item.version}`;
    if (!ecosystem || seen.has(key)) continue;
    seen.add(key);
    packages.push({ ecosystem, ...item });
  }
  return { os, packages };
}
