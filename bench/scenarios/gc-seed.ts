import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetadataStore } from '../../src/metadata/metadata-store.ts';

/**
 * Data for the garbage collection benchmark, written straight into Wharf's database and storage
 * layout and into Distribution's, so that 110,000 blobs take seconds rather than an hour of pushes.
 * Blobs are small (64 to 319 random bytes); every manifest holds a config and 99 layers.
 */

export interface SeedBlob {
  digest: string;
  bytes: Buffer;
}

export interface SeedManifest {
  repository: string;
  tag: string;
  blobs: SeedBlob[];
  payload: Buffer;
  digest: string;
}

export const blobsPerManifest = 100;
const repositories = 10;
const manifestMediaType = 'application/vnd.docker.distribution.manifest.v2+json';
const configMediaType = 'application/vnd.docker.container.image.v1+json';
const layerMediaType = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `blobCount / 100` images of 100 fresh blobs each, spread over ten repositories. */
export function generateImages(blobCount: number, label: string): SeedManifest[] {
  const images: SeedManifest[] = [];
  for (let image = 0; image < blobCount / blobsPerManifest; image++) {
    const blobs = Array.from({ length: blobsPerManifest }, () => {
      const bytes = randomBytes(64 + Math.floor(Math.random() * 256));
      return { digest: sha256(bytes), bytes };
    });
    const [config, ...layers] = blobs;
    const describe = (blob: SeedBlob, mediaType: string) => ({
      mediaType,
      size: blob.bytes.length,
      digest: blob.digest,
    });
    const payload = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: manifestMediaType,
        config: describe(config!, configMediaType),
        layers: layers.map((layer) => describe(layer, layerMediaType)),
      }),
    );
    images.push({
      repository: `bench/app-${image % repositories}`,
      tag: `${label}-${image}`,
      blobs,
      payload,
      digest: sha256(payload),
    });
  }
  return images;
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function forEachConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function writeFiles(files: readonly { path: string; bytes: Buffer | string }[]): Promise<void> {
  const directories = new Set(files.map((file) => file.path.slice(0, file.path.lastIndexOf('/'))));
  await forEachConcurrently([...directories], 32, (directory) => mkdir(directory, { recursive: true }).then(() => {}));
  await forEachConcurrently(files, 64, (file) => writeFile(file.path, file.bytes));
}

/** Wharf's layout: blob files under `<root>/blobs`, everything else as rows (in one transaction). */
export async function seedWharf(root: string, metadata: MetadataStore, images: readonly SeedManifest[]): Promise<void> {
  await writeFiles(
    images.flatMap((image) =>
      image.blobs.map((blob) => {
        const hex = blob.digest.slice('sha256:'.length);
        return { path: join(root, 'blobs', 'sha256', hex.slice(0, 2), hex), bytes: blob.bytes };
      }),
    ),
  );
  const now = Date.now();
  await metadata.db.transaction().execute(async (trx) => {
    const names = [...new Set(images.map((image) => image.repository))];
    await trx
      .insertInto('repositories')
      .values(names.map((name) => ({ name, created_at: now })))
      .onConflict((conflict) => conflict.column('name').doNothing())
      .execute();
    const ids = new Map(
      (await trx.selectFrom('repositories').select(['id', 'name']).execute()).map((row) => [row.name, row.id]),
    );
    for (const image of images) {
      const repositoryId = ids.get(image.repository)!;
      await trx
        .insertInto('blobs')
        .values(image.blobs.map((blob) => ({ digest: blob.digest, size: blob.bytes.length, created_at: now })))
        .execute();
      await trx
        .insertInto('repository_blobs')
        .values(image.blobs.map((blob) => ({ repository_id: repositoryId, digest: blob.digest, created_at: now })))
        .execute();
      const manifest = await trx
        .insertInto('manifests')
        .values({
          repository_id: repositoryId,
          digest: image.digest,
          media_type: manifestMediaType,
          artifact_type: null,
          size: image.payload.length,
          payload: image.payload,
          subject_digest: null,
          annotations: null,
          created_at: now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('manifest_blobs')
        .values(image.blobs.map((blob) => ({ manifest_id: manifest.id, digest: blob.digest })))
        .execute();
      await trx
        .insertInto('tags')
        .values({ repository_id: repositoryId, name: image.tag, manifest_id: manifest.id, updated_at: now })
        .execute();
    }
  });
}

/**
 * Distribution's layout (registry/storage/paths.go): each blob at `blobs/sha256/<2>/<hex>/data`,
 * the manifest too, and per repository the layer links, the manifest revision and the tag.
 * `withManifest` false leaves the blobs as a deleted image leaves them: data and layer links only.
 */
export async function seedDistribution(
  root: string,
  images: readonly SeedManifest[],
  withManifest: boolean,
): Promise<void> {
  const v2 = join(root, 'docker', 'registry', 'v2');
  const blobData = (digest: string) => {
    const hex = digest.slice('sha256:'.length);
    return join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  };
  const files: { path: string; bytes: Buffer | string }[] = [];
  for (const image of images) {
    const repository = join(v2, 'repositories', image.repository);
    const manifestHex = image.digest.slice('sha256:'.length);
    files.push({ path: blobData(image.digest), bytes: image.payload });
    for (const blob of image.blobs) {
      files.push({ path: blobData(blob.digest), bytes: blob.bytes });
      const hex = blob.digest.slice('sha256:'.length);
      files.push({ path: join(repository, '_layers', 'sha256', hex, 'link'), bytes: blob.digest });
    }
    if (withManifest) {
      files.push({
        path: join(repository, '_manifests', 'revisions', 'sha256', manifestHex, 'link'),
        bytes: image.digest,
      });
      const tag = join(repository, '_manifests', 'tags', image.tag);
      files.push({ path: join(tag, 'current', 'link'), bytes: image.digest });
      files.push({ path: join(tag, 'index', 'sha256', manifestHex, 'link'), bytes: image.digest });
    }
  }
  await writeFiles(files);
}
