import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  type Descriptor,
  emptyDescriptor,
  emptyJson,
  MediaType,
  pushBlob,
  pushManifest,
  send,
  sha256,
} from '../helpers/http.ts';
import { type BuiltIndex, buildImageLayout, buildMultiPlatformLayout, readLayoutIndex } from '../helpers/images.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';
import { type CliResult, runWharf } from '../helpers/wharf-cli.ts';

/**
 * Air-gapped bundles: `wharf export` writes one OCI archive that skopeo reads image by image;
 * skopeo's archives load with `wharf import`; a bundle loads into a stopped registry through its
 * own storage and database, and is there when it starts.
 */

const run = promisify(execFile);
const accept = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifest].join(', ');

async function digestOf(baseUrl: string, repository: string, reference: string): Promise<string | undefined> {
  const answer = await send(`${baseUrl}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { accept },
  });
  return answer.status === 200 ? (answer.headers.get('docker-content-digest') ?? undefined) : undefined;
}

async function archiveIndex(archive: string): Promise<Descriptor[]> {
  const { stdout } = await run('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8' });
  return (JSON.parse(stdout) as { manifests: Descriptor[] }).manifests;
}

function refName(entry: Descriptor): string | undefined {
  return entry.annotations?.['org.opencontainers.image.ref.name'];
}

function assertSuccess(result: CliResult, what: string): void {
  assert.equal(result.code, 0, `${what} exited with ${result.code}\n${result.stdout}\n${result.stderr}`);
}

describe('wharf export and import', () => {
  let work: string;
  let source: WharfProcess;
  let target: WharfProcess;
  let reference: ReferenceRegistry;
  let built: BuiltIndex;
  let signature: Descriptor;
  /** The digests of team/web:1.0 (OCI) and team/web:2.0 (Docker schema 2). */
  const web = new Map<string, string>();
  let blobCount: number;
  let bundle: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-bundle-'));
    [source, target, reference] = await Promise.all([startWharf(), startWharf(), startReferenceRegistry()]);
    built = await buildMultiPlatformLayout(join(work, 'layout'), 'v1', [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    await skopeo(['copy', '--all', `oci:${join(work, 'layout')}:v1`, `docker://${source.host}/team/app:v1`]);
    await pushBlob(source.url, 'team/app', emptyJson);
    const signatureBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        artifactType: 'application/vnd.example.signature',
        config: emptyDescriptor,
        layers: [emptyDescriptor],
        subject: built.index,
      }),
    );
    await pushManifest(source.url, 'team/app', sha256(signatureBytes), signatureBytes, MediaType.ociManifest);
    signature = { mediaType: MediaType.ociManifest, digest: sha256(signatureBytes), size: signatureBytes.length };
    // Real gzip layers: skopeo rewrites a manifest whose "gzip" layer is not gzip.
    const webLayout = join(work, 'web');
    const webImages = [
      await buildImageLayout(webLayout, { tag: '1.0', layers: [{ files: { 'srv/index.html': 'one\n' } }] }),
      await buildImageLayout(webLayout, { tag: '2.0', layers: [{ files: { 'srv/index.html': 'two\n' } }] }),
    ];
    await skopeo(['copy', `oci:${webLayout}:1.0`, `docker://${source.host}/team/web:1.0`]);
    await skopeo(['copy', '--format', 'v2s2', `oci:${webLayout}:2.0`, `docker://${source.host}/team/web:2.0`]);
    for (const tag of ['1.0', '2.0']) web.set(tag, (await digestOf(source.url, 'team/web', tag)) as string);
    const blobs = new Set([
      emptyDescriptor.digest,
      ...[...built.images, ...webImages].flatMap((image) => [
        image.config.digest,
        ...image.layers.map((layer) => layer.digest),
      ]),
    ]);
    blobCount = blobs.size;
    bundle = join(work, 'bundle.tar');
  });

  after(async () => {
    await Promise.all([source?.close(), target?.close(), reference?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('exports tags and whole repositories into one archive whose index.json names each repository:tag', async () => {
    const result = await runWharf(['export', '--registry', source.url, '--output', bundle, 'team/app:v1', 'team/web']);
    assertSuccess(result, 'wharf export');
    assert.match(result.stdout, /^3 images copied/m);
    assert.match(result.stdout, new RegExp(`^wrote ${bundle.replace(/[.]/g, '\\.')}$`, 'm'));
    const index = await archiveIndex(bundle);
    assert.deepEqual(
      index
        .filter((entry) => refName(entry) !== undefined)
        .map((entry) => `${refName(entry)} ${entry.digest}`)
        .sort(),
      [`team/app:v1 ${built.index.digest}`, `team/web:1.0 ${web.get('1.0')}`, `team/web:2.0 ${web.get('2.0')}`],
    );
    assert.deepEqual(
      index.filter((entry) => refName(entry) === undefined).map((entry) => entry.digest),
      [signature.digest],
    );
  });

  it('loads image by image with skopeo copy oci-archive:, digests unchanged', async () => {
    await skopeo(['copy', '--all', `oci-archive:${bundle}:team/app:v1`, `docker://${reference.host}/team/app:v1`]);
    assert.equal(await digestOf(reference.url, 'team/app', 'v1'), built.index.digest);
    await skopeo(['copy', `oci-archive:${bundle}:team/web:1.0`, `docker://${reference.host}/team/web:1.0`]);
    assert.equal(await digestOf(reference.url, 'team/web', '1.0'), web.get('1.0'));
    // The Docker schema 2 image is kept byte for byte too (its digest, and what refers to it,
    // hold); skopeo 1.9 looks up only OCI-typed entries of index.json by name (containers/image
    // later accepts Docker types there), so it is loaded with wharf import below.
  });

  it('imports the bundle into a running registry over HTTP, referrers included, and skips it all the second time', async () => {
    const first = await runWharf(['import', '--registry', target.url, bundle]);
    assertSuccess(first, 'wharf import');
    assert.match(first.stdout, /^3 images copied/m);
    assert.equal(await digestOf(target.url, 'team/app', 'v1'), built.index.digest);
    assert.equal(await digestOf(target.url, 'team/web', '1.0'), web.get('1.0'));
    const referrers = await send(`${target.url}/v2/team/app/referrers/${built.index.digest}`);
    assert.deepEqual(
      referrers.json<{ manifests: Descriptor[] }>().manifests.map((entry) => entry.digest),
      [signature.digest],
    );
    const again = await runWharf(['import', '--registry', target.url, bundle]);
    assertSuccess(again, 'second import');
    assert.match(again.stdout, /^manifests: 0 copied/m);
    assert.match(again.stdout, /^blobs: 0 copied/m);
  });

  it('imports archives skopeo wrote, named by repository:tag or by a bare tag, and skopeo pulls the result', async () => {
    const named = join(work, 'skopeo-named.tar');
    const bare = join(work, 'skopeo-bare.tar');
    await skopeo(['copy', '--all', `docker://${source.host}/team/app:v1`, `oci-archive:${named}:skopeo/app:v1`]);
    await skopeo(['copy', `docker://${source.host}/team/web:1.0`, `oci-archive:${bare}:stable`]);
    // skopeo may rewrite what it stores; what counts is that the import keeps what the archive holds.
    const written = (await archiveIndex(named)).find((entry) => refName(entry) === 'skopeo/app:v1');
    assert.ok(written, 'skopeo wrote no skopeo/app:v1 entry');
    assertSuccess(await runWharf(['import', '--registry', target.url, named]), 'import of a skopeo archive');
    assertSuccess(
      await runWharf(['import', '--registry', target.url, '--prefix', 'imported/web', bare]),
      'import of a bare-tag archive',
    );
    assert.equal(await digestOf(target.url, 'skopeo/app', 'v1'), written.digest);
    assert.equal(await digestOf(target.url, 'imported/web', 'stable'), web.get('1.0'));
    const pulled = join(work, 'pulled');
    await skopeo(['copy', '--all', `docker://${target.host}/skopeo/app:v1`, `oci:${pulled}:v1`]);
    const pulledIndex = await readLayoutIndex(pulled);
    assert.equal(pulledIndex.manifests.find((entry) => refName(entry) === 'v1')?.digest, written.digest);

    const missing = await runWharf(['import', '--registry', target.url, bare]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /"stable" names no repository/);
  });

  it('imports into a stopped registry through its storage and database; the started registry serves it', async () => {
    const dataDir = join(work, 'offline');
    const configFile = join(work, 'offline.yml');
    await writeFile(
      configFile,
      [
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${dataDir}`,
        'database:',
        `  path: ${join(dataDir, 'wharf.db')}`,
        '',
      ].join('\n'),
    );
    const options = {
      dataDir,
      configYaml: `storage:\n  filesystem:\n    rootdirectory: ${dataDir}\ndatabase:\n  path: ${join(dataDir, 'wharf.db')}\n`,
    };
    await mkdir(dataDir, { recursive: true });
    const first = await startWharf(options);
    await first.stop();

    const result = await runWharf(['import', '--config', configFile, bundle]);
    assertSuccess(result, 'import with --config');
    assert.match(result.stdout, /^3 images copied/m);
    assert.match(result.stdout, new RegExp(`^blobs: ${blobCount} copied`, 'm'));
    // Blobs shared between repositories are linked, not stored twice.
    const again = await runWharf(['import', '--config', configFile, '--prefix', 'copy', bundle]);
    assertSuccess(again, 'second import with --config');
    assert.match(again.stdout, new RegExp(`^blobs: 0 copied \\(0 B\\), 0 already there, ${blobCount} mounted`, 'm'));

    const restarted = await startWharf(options);
    try {
      assert.equal(await digestOf(restarted.url, 'team/app', 'v1'), built.index.digest);
      assert.equal(await digestOf(restarted.url, 'copy/team/web', '2.0'), web.get('2.0'));
      const pulled = join(work, 'pulled-offline');
      await skopeo(['copy', '--all', `docker://${restarted.host}/team/app:v1`, `oci:${pulled}:v1`]);
      assert.equal(
        (await readLayoutIndex(pulled)).manifests.find((entry) => refName(entry) === 'v1')?.digest,
        built.index.digest,
      );
      const referrers = await send(`${restarted.url}/v2/team/app/referrers/${built.index.digest}`);
      assert.deepEqual(
        referrers.json<{ manifests: Descriptor[] }>().manifests.map((entry) => entry.digest),
        [signature.digest],
      );
    } finally {
      await restarted.stop();
    }

    // And out again from the stopped registry's own storage.
    const exported = join(work, 'from-offline.tar');
    assertSuccess(
      await runWharf(['export', '--config', configFile, '-o', exported, 'team/app:v1']),
      'export with --config',
    );
    const index = await archiveIndex(exported);
    assert.deepEqual(
      index.filter((entry) => refName(entry) !== undefined).map((entry) => [refName(entry), entry.digest]),
      [['team/app:v1', built.index.digest]],
    );
  });
});
