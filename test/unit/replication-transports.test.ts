import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { pack } from 'tar-stream';
import { ArchiveDestination } from '../../src/replication/archive-destination.ts';
import { ArchiveFiles } from '../../src/replication/archive-files.ts';
import { DigestMismatchError } from '../../src/replication/client/index.ts';
import { CopyEngine } from '../../src/replication/copy-engine.ts';
import type { CopyEvent } from '../../src/replication/copy-events.ts';
import { LayoutDestination } from '../../src/replication/layout-destination.ts';
import { DirectoryFiles } from '../../src/replication/layout-files.ts';
import { LayoutSource } from '../../src/replication/layout-source.ts';
import { indexTar } from '../../src/replication/tar-index.ts';
import { TransportError } from '../../src/replication/transport-error.ts';
import { type BuiltIndex, buildMultiPlatformLayout, readLayoutIndex, sha256 } from '../helpers/images.ts';

/** Layouts, archives and the copy engine on local files: no registry involved. */

const run = promisify(execFile);
const refName = 'org.opencontainers.image.ref.name';

async function addReferrer(layout: string, subject: { mediaType: string; digest: string; size: number }) {
  const empty = Buffer.from('{}');
  await writeFile(join(layout, 'blobs', 'sha256', sha256(empty).slice(7)), empty);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }],
      subject,
    }),
  );
  await writeFile(join(layout, 'blobs', 'sha256', sha256(bytes).slice(7)), bytes);
  const index = await readLayoutIndex(layout);
  const descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(bytes),
    size: bytes.length,
  };
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({ ...index, manifests: [...index.manifests, descriptor] }),
  );
  return descriptor;
}

describe('layouts, archives and the copy engine', () => {
  let work: string;
  let source: string;
  let built: BuiltIndex;
  let signature: { digest: string };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-transports-'));
    source = join(work, 'source');
    built = await buildMultiPlatformLayout(source, 'v1', [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    signature = await addReferrer(source, built.index);
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('copies a layout into an archive and the archive into a layout, every digest and referrer kept', async () => {
    const archivePath = join(work, 'bundle.tar');
    const events: CopyEvent[] = [];
    const engine = new CopyEngine({ concurrency: 2, onEvent: (event) => events.push(event) });
    const layout = new LayoutSource(new DirectoryFiles(source), 'oci');
    const archive = await ArchiveDestination.create(archivePath);
    await engine.copy({ source: layout, reference: 'v1', destination: archive, destinationReference: 'team/app:v1' });
    await archive.commit();
    await archive.close();
    // The base layer both platforms share went into the archive once.
    const baseLayer = built.images[0]?.layers[0]?.digest as string;
    assert.equal(events.filter((event) => event.type === 'blob-done' && event.digest === baseLayer).length, 1);
    assert.equal(engine.stats.blobs.copied, 6);
    assert.equal(engine.stats.manifests.copied, 4);
    const blobs = new Map(
      built.images.flatMap((image) => [image.config, ...image.layers]).map((blob) => [blob.digest, blob.size]),
    );
    // Plus the two bytes of the signature's empty config.
    assert.equal(engine.stats.bytesCopied, [...blobs.values()].reduce((sum, size) => sum + size, 0) + 2);

    const files = await ArchiveFiles.open(archivePath);
    const fromArchive = new LayoutSource(files, 'oci-archive');
    assert.deepEqual(
      (await fromArchive.namedImages()).map((image) => [image.name, image.descriptor.digest]),
      [['team/app:v1', built.index.digest]],
    );
    assert.deepEqual(
      (await fromArchive.referrers(built.index.digest as never)).map((entry) => entry.digest),
      [signature.digest],
    );
    const target = join(work, 'target');
    const destination = await LayoutDestination.open(target);
    const second = new CopyEngine();
    await second.copy({ source: fromArchive, reference: 'team/app:v1', destination, destinationReference: 'v1' });
    await destination.commit();
    await fromArchive.close();
    assert.deepEqual(await readFile(join(target, 'blobs', 'sha256', built.index.digest.slice(7))), built.indexBytes);
    for (const digest of built.blobDigests) {
      assert.equal(sha256(await readFile(join(target, 'blobs', 'sha256', digest.slice(7)))), digest);
    }
    const index = await readLayoutIndex(target);
    assert.deepEqual(
      index.manifests.map((entry) => [entry.annotations?.[refName] ?? '', entry.digest]).sort(),
      [
        ['', signature.digest],
        ['v1', built.index.digest],
      ].sort(),
    );

    const again = new CopyEngine();
    await again.copy({
      source: new LayoutSource(new DirectoryFiles(source), 'oci'),
      reference: 'v1',
      destination: await LayoutDestination.open(target),
      destinationReference: 'v1',
    });
    assert.equal(again.stats.blobs.copied, 0);
    assert.equal(again.stats.manifests.copied, 0);
    // The index, both images and the signature were all there: each looked at once, none written.
    assert.equal(again.stats.manifests.skipped, 4);
  });

  it('refuses a blob whose bytes changed, leaving nothing half written', async () => {
    const corrupt = join(work, 'corrupt');
    await run('cp', ['-r', source, corrupt]);
    const layer = built.images[1]?.layers[1]?.digest as string;
    const path = join(corrupt, 'blobs', 'sha256', layer.slice(7));
    const bytes = await readFile(path);
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    await writeFile(path, bytes);
    const target = join(work, 'from-corrupt');
    const engine = new CopyEngine({ blobAttempts: 1 });
    await assert.rejects(
      engine.copy({
        source: new LayoutSource(new DirectoryFiles(corrupt), 'oci'),
        reference: 'v1',
        destination: await LayoutDestination.open(target),
        destinationReference: 'v1',
      }),
      (error: unknown) => error instanceof DigestMismatchError && error.expected === layer,
    );
    const written = await readdir(join(target, 'blobs', 'sha256'));
    assert.ok(!written.includes(layer.slice(7)), 'the corrupt blob was stored');
    assert.deepEqual(
      written.filter((name) => name.includes('.partial-')),
      [],
    );
    assert.equal(engine.stats.failedImages, 1);
  });

  it('removes an archive that was not committed', async () => {
    const path = join(work, 'abandoned.tar');
    const archive = await ArchiveDestination.create(path);
    await archive.close();
    await assert.rejects(stat(path), { code: 'ENOENT' });
    assert.deepEqual(
      (await readdir(work)).filter((name) => name.startsWith('abandoned')),
      [],
    );
  });

  it('names the platforms an index has when a filter matches none', async () => {
    const engine = new CopyEngine({ platforms: [{ os: 'windows', architecture: 'amd64' }] });
    await assert.rejects(
      engine.copy({
        source: new LayoutSource(new DirectoryFiles(source), 'oci'),
        reference: 'v1',
        destination: await LayoutDestination.open(join(work, 'none')),
        destinationReference: 'v1',
      }),
      /v1 has no image for windows\/amd64 \(it has linux\/amd64, linux\/arm64\)/,
    );
  });

  it('names what a layout lacks', async () => {
    const layout = new LayoutSource(new DirectoryFiles(source), 'oci');
    await assert.rejects(
      layout.getManifest('v2'),
      (error: unknown) =>
        error instanceof TransportError && error.kind === 'not-found' && /has no image named "v2"/.test(error.message),
    );
    await assert.rejects(layout.getManifest(''), /holds 2 images: name one/);
    const notLayout = new LayoutSource(new DirectoryFiles(work), 'oci');
    await assert.rejects(notLayout.getManifest('v1'), /is not an OCI image layout \(no index\.json\)/);
  });

  describe('tar index', () => {
    it('reads pax long names (tar-stream) and GNU long names (GNU tar), offsets exact', async () => {
      const longName = `blobs/sha256/${'d'.repeat(120)}`;
      const paxPath = join(work, 'pax.tar');
      const tar = pack();
      tar.entry({ name: 'short' }, Buffer.from('one'));
      tar.entry({ name: longName }, Buffer.from('long name content'));
      tar.finalize();
      const chunks: Buffer[] = [];
      for await (const chunk of tar) chunks.push(chunk as Buffer);
      await writeFile(paxPath, Buffer.concat(chunks));
      const files = await ArchiveFiles.open(paxPath);
      assert.deepEqual(await files.read(longName, 100), Buffer.from('long name content'));
      assert.deepEqual(await files.read('short', 100), Buffer.from('one'));
      assert.equal(await files.read('missing', 100), undefined);
      await files.close();

      const tree = join(work, 'gnu');
      await mkdir(join(tree, 'a'.repeat(60)), { recursive: true });
      await writeFile(join(tree, 'a'.repeat(60), 'b'.repeat(70)), 'gnu content');
      const gnuPath = join(work, 'gnu.tar');
      await run('tar', ['--format=gnu', '-cf', gnuPath, '-C', tree, '.']);
      const gnu = await ArchiveFiles.open(gnuPath);
      assert.deepEqual(await gnu.read(`${'a'.repeat(60)}/${'b'.repeat(70)}`, 100), Buffer.from('gnu content'));
      await gnu.close();
    });

    it('refuses a file that is not a tar archive', async () => {
      const path = join(work, 'not.tar');
      await writeFile(path, Buffer.alloc(2048, 7));
      const handle = await open(path, 'r');
      try {
        await assert.rejects(indexTar(handle, path), /is not a tar archive \(bad header checksum at byte 0\)/);
      } finally {
        await handle.close();
      }
    });
  });
});
