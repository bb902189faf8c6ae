import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { seededRandomBytes } from './random-bytes.ts';
import { type FileContent, tarDirectory, tarFiles } from './tar.ts';

/** Spelled out here rather than imported from src/, so a wrong constant there cannot hide in both places. */
export const ImageMediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

const refNameAnnotation = 'org.opencontainers.image.ref.name';
const created = '2024-01-01T00:00:00Z';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** A layer is either files given inline (tarred by tarFiles) or a real directory (tarred by GNU tar). */
export type LayerSpec = { files: Record<string, FileContent> } | { directory: string };

export interface ImageSpec {
  /** Recorded in index.json as the ref name; untagged images are only reachable by digest or from an index. */
  tag?: string;
  layers: LayerSpec[];
  platform?: Platform;
}

export interface BuiltImage {
  tag: string | undefined;
  platform: Platform;
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  configBytes: Buffer;
  layers: Descriptor[];
  diffIds: string[];
  /** Every blob the image consists of, manifest first, then config, then layers. */
  blobDigests: string[];
}

export interface BuiltIndex {
  tag: string;
  index: Descriptor;
  indexBytes: Buffer;
  images: BuiltImage[];
  /** The index, then every child's blobs, without duplicates. */
  blobDigests: string[];
}

export const linuxAmd64: Platform = { os: 'linux', architecture: 'amd64' };

/** Writes an image into the OCI layout at `dir` (created if missing), adding its tag to index.json. */
export async function buildImageLayout(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  await initLayout(dir);
  const platform = spec.platform ?? linuxAmd64;
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const layer of spec.layers) {
    const tar = 'files' in layer ? tarFiles(layer.files) : await tarDirectory(layer.directory);
    diffIds.push(sha256(tar));
    layers.push(await writeBlob(dir, ImageMediaTypes.ociLayerGzip, gzipSync(tar, { level: 6 })));
  }
  const configBytes = Buffer.from(
    JSON.stringify({
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant === undefined ? {} : { variant: platform.variant }),
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['/bin/sh'],
        Labels: { 'org.wharf.test.tag': spec.tag ?? '' },
      },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map((_, index) => ({ created, created_by: `layer ${index}` })),
    }),
  );
  const config = await writeBlob(dir, ImageMediaTypes.ociConfig, configBytes);
  const manifestBytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: ImageMediaTypes.ociManifest, config, layers }, null, 2),
  );
  const manifest = await writeBlob(dir, ImageMediaTypes.ociManifest, manifestBytes);
  if (spec.tag !== undefined) await setLayoutTag(dir, spec.tag, manifest);
  return {
    tag: spec.tag,
    platform,
    manifest,
    manifestBytes,
    config,
    configBytes,
    layers,
    diffIds,
    blobDigests: [manifest.digest, config.digest, ...layers.map((layer) => layer.digest)],
  };
}

/**
 * Writes one image per platform (a base layer they share plus a layer naming
 * the platform) and an OCI index over them, tagged `tag` in index.json.
 */
export async function buildMultiPlatformLayout(dir: string, tag: string, platforms: Platform[]): Promise<BuiltIndex> {
  const base = { files: { 'etc/os-release': `NAME=wharf-test\nTAG=${tag}\n` } };
  const images: BuiltImage[] = [];
  for (const platform of platforms) {
    const name = platformName(platform);
    const own = {
      files: { 'etc/platform': `${name}\n`, 'bin/payload': seededRandomBytes(`${tag}/${name}`, 64 * 1024) },
    };
    images.push(await buildImageLayout(dir, { layers: [base, own], platform }));
  }
  const indexBytes = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: ImageMediaTypes.ociIndex,
        manifests: images.map((image) => ({ ...image.manifest, platform: image.platform })),
      },
      null,
      2,
    ),
  );
  const index = await writeBlob(dir, ImageMediaTypes.ociIndex, indexBytes);
  await setLayoutTag(dir, tag, index);
  const blobDigests = [...new Set([index.digest, ...images.flatMap((image) => image.blobDigests)])];
  return { tag, index, indexBytes, images, blobDigests };
}

/**
 * An image whose layers are tarred from real files on disk: three files of a
 * few hundred KiB in one layer, one multi-MiB file in the next, a small text
 * file last. The bytes are seeded by `seed`, so two calls with the same seed
 * give the same digests.
 */
export async function buildRealFilesImageLayout(dir: string, tag: string, seed = tag): Promise<BuiltImage> {
  const scratch = await mkdtemp(join(tmpdir(), 'wharf-rootfs-'));
  try {
    const spread = join(scratch, 'spread');
    const large = join(scratch, 'large');
    const small = join(scratch, 'small');
    await mkdir(join(spread, 'usr', 'lib', 'data'), { recursive: true });
    await mkdir(join(large, 'opt', 'app'), { recursive: true });
    await mkdir(join(small, 'etc'), { recursive: true });
    for (const [index, kib] of [256, 384, 512].entries()) {
      await writeFile(
        join(spread, 'usr', 'lib', 'data', `part-${index}.bin`),
        seededRandomBytes(`${seed}/${index}`, kib * 1024),
      );
    }
    await writeFile(join(large, 'opt', 'app', 'bundle.bin'), seededRandomBytes(`${seed}/large`, 6 * 1024 * 1024));
    await writeFile(join(small, 'etc', 'motd'), `built from real files for ${tag}\n`);
    return await buildImageLayout(dir, {
      tag,
      layers: [{ directory: spread }, { directory: large }, { directory: small }],
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface BlobFile {
  path: string;
  size: number;
  /** The sha256 of the file's bytes, whatever its name claims. */
  contentDigest: string;
}

/** Every blob file of an OCI layout, keyed by the digest its path names. */
export async function layoutBlobs(dir: string): Promise<Map<string, BlobFile>> {
  const blobs = new Map<string, BlobFile>();
  const blobRoot = join(dir, 'blobs');
  for (const algorithm of await readdir(blobRoot)) {
    for (const encoded of await readdir(join(blobRoot, algorithm))) {
      blobs.set(`${algorithm}:${encoded}`, await blobFile(join(blobRoot, algorithm, encoded)));
    }
  }
  return blobs;
}

/** The blobs of a skopeo `dir:` image (files named by the bare sha256 hex), keyed by digest. */
export async function dirTransportBlobs(dir: string): Promise<Map<string, BlobFile>> {
  const blobs = new Map<string, BlobFile>();
  for (const name of await readdir(dir)) {
    if (/^[a-f0-9]{64}$/.test(name)) blobs.set(`sha256:${name}`, await blobFile(join(dir, name)));
  }
  return blobs;
}

export interface LayoutIndex {
  schemaVersion: number;
  manifests: Descriptor[];
}

export async function readLayoutIndex(dir: string): Promise<LayoutIndex> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as LayoutIndex;
}

/** The descriptor index.json gives for `tag`; throws when the layout has no such tag. */
export async function layoutTag(dir: string, tag: string): Promise<Descriptor> {
  const found = (await readLayoutIndex(dir)).manifests.find((entry) => entry.annotations?.[refNameAnnotation] === tag);
  if (!found) throw new Error(`no tag ${tag} in the OCI layout at ${dir}`);
  return found;
}

export function readLayoutBlob(dir: string, digest: string): Promise<Buffer> {
  const [algorithm, encoded] = digest.split(':');
  return readFile(join(dir, 'blobs', algorithm ?? '', encoded ?? ''));
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function platformName(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

async function initLayout(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  if (!(await exists(join(dir, 'index.json')))) {
    await writeIndex(dir, { schemaVersion: 2, manifests: [] });
  }
}

async function writeBlob(dir: string, mediaType: string, bytes: Buffer): Promise<Descriptor> {
  const digest = sha256(bytes);
  const path = join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  if (!(await exists(path))) await writeFile(path, bytes);
  return { mediaType, digest, size: bytes.length };
}

/** Points `tag` at `target` in index.json, replacing an earlier entry of the same tag. */
async function setLayoutTag(dir: string, tag: string, target: Descriptor): Promise<void> {
  await initLayout(dir);
  const index = await readLayoutIndex(dir);
  const manifests = index.manifests.filter((entry) => entry.annotations?.[refNameAnnotation] !== tag);
  const { mediaType, digest, size } = target;
  manifests.push({ mediaType, digest, size, annotations: { [refNameAnnotation]: tag } });
  await writeIndex(dir, { ...index, manifests });
}

async function writeIndex(dir: string, index: LayoutIndex): Promise<void> {
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: ImageMediaTypes.ociIndex, manifests: index.manifests }, null, 2),
  );
}

async function blobFile(path: string): Promise<BlobFile> {
  const bytes = await readFile(path);
  return { path, size: bytes.length, contentDigest: sha256(bytes) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
