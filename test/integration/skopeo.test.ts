import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type BlobFile,
  type BuiltImage,
  buildImageLayout,
  buildMultiPlatformLayout,
  buildRealFilesImageLayout,
  dirTransportBlobs,
  ImageMediaTypes,
  layoutBlobs,
  layoutTag,
  sha256,
} from '../helpers/images.ts';
import { seededRandomBytes } from '../helpers/random-bytes.ts';
import { startReferenceRegistry } from '../helpers/reference-registry.ts';
import { SkopeoError, skopeo } from '../helpers/skopeo.ts';
import { startWharf } from '../helpers/wharf.ts';

/**
 * SKOPEO_TEST_REGISTRY=distribution runs the same suite against CNCF
 * Distribution, to tell a client or test quirk from a Wharf bug.
 */
const againstDistribution = process.env.SKOPEO_TEST_REGISTRY === 'distribution';

interface InspectOutput {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Architecture: string;
  Os: string;
  Layers: string[];
  Labels: Record<string, string>;
}

interface ListTagsOutput {
  Repository: string;
  Tags: string[];
}

interface ImageManifest {
  schemaVersion: number;
  mediaType: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number }[];
}

describe('skopeo against the registry', () => {
  let registry: { host: string; close(): Promise<void> };
  let work: string;
  /** One OCI layout holds every source image; each test pulls into its own fresh directory. */
  let layout: string;
  let host: string;

  before(async () => {
    registry = againstDistribution ? await startReferenceRegistry() : await startWharf();
    host = registry.host;
    work = await mkdtemp(join(tmpdir(), 'wharf-skopeo-test-'));
    layout = join(work, 'source');
  });

  after(async () => {
    await registry?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const raw = async (reference: string, ...flags: string[]): Promise<Buffer> =>
    Buffer.from((await skopeo(['inspect', '--raw', ...flags, reference])).stdout, 'utf8');
  const inspect = async (reference: string): Promise<InspectOutput> =>
    JSON.parse((await skopeo(['inspect', reference])).stdout) as InspectOutput;
  const listTags = async (repository: string): Promise<string[]> =>
    (JSON.parse((await skopeo(['list-tags', `docker://${host}/${repository}`])).stdout) as ListTagsOutput).Tags;
  const push = async (tag: string, repository: string, ...flags: string[]) => {
    await skopeo(['copy', ...flags, `oci:${layout}:${tag}`, `docker://${host}/${repository}`]);
  };
  const smallImage = (tag: string): Promise<BuiltImage> =>
    buildImageLayout(layout, {
      tag,
      layers: [
        { files: { 'etc/hostname': `${tag}\n`, 'usr/share/doc/readme.txt': `image ${tag}\n` } },
        { files: { [`opt/${tag}/data.bin`]: seededRandomBytes(tag, 32 * 1024) } },
      ],
    });

  /** The pulled blobs are exactly `expected`, each file's bytes hash to its name and match the source layout's file. */
  async function assertSameBlobs(pulled: Map<string, BlobFile>, expected: string[]): Promise<void> {
    assert.deepEqual([...pulled.keys()].sort(), [...new Set(expected)].sort());
    const source = await layoutBlobs(layout);
    for (const [digest, blob] of pulled) {
      assert.equal(blob.contentDigest, digest, `pulled blob ${digest} has other bytes`);
      const original = source.get(digest);
      assert.ok(original, `pulled blob ${digest} is not one that was pushed`);
      assert.equal(blob.size, original.size);
      assert.ok((await readFile(blob.path)).equals(await readFile(original.path)), `bytes of ${digest} differ`);
    }
  }

  it('pushes an OCI layout and pulls back the same manifest digest and blob bytes', async () => {
    const image = await smallImage('roundtrip');
    await push('roundtrip', 'oci/roundtrip:v1');

    const out = join(work, 'pulled-roundtrip');
    await skopeo(['copy', `docker://${host}/oci/roundtrip:v1`, `oci:${out}:v1`]);

    assert.equal((await layoutTag(out, 'v1')).digest, image.manifest.digest);
    await assertSameBlobs(await layoutBlobs(out), image.blobDigests);
  });

  it('round-trips a multi-layer image from real files as OCI and as Docker schema 2', async () => {
    const image = await buildRealFilesImageLayout(layout, 'files');
    assert.ok(
      image.layers.some((layer) => layer.size > 4 * 1024 * 1024),
      'one layer is several MiB',
    );

    await push('files', 'files/oci:1');
    const ociOut = join(work, 'pulled-files-oci');
    await skopeo(['copy', `docker://${host}/files/oci:1`, `oci:${ociOut}:1`]);
    assert.equal((await layoutTag(ociOut, '1')).digest, image.manifest.digest);
    await assertSameBlobs(await layoutBlobs(ociOut), image.blobDigests);

    await push('files', 'files/docker:1', '--format', 'v2s2');
    const dockerBytes = await raw(`docker://${host}/files/docker:1`);
    const docker = JSON.parse(dockerBytes.toString('utf8')) as ImageManifest;
    assert.equal(docker.mediaType, ImageMediaTypes.dockerManifest);
    assert.equal(docker.config.mediaType, ImageMediaTypes.dockerConfig);
    assert.equal(docker.config.digest, image.config.digest);
    assert.deepEqual(
      docker.layers.map((layer) => [layer.mediaType, layer.digest, layer.size]),
      image.layers.map((layer) => [ImageMediaTypes.dockerLayerGzip, layer.digest, layer.size]),
    );
    const dockerDigest = sha256(dockerBytes);
    assert.equal((await inspect(`docker://${host}/files/docker:1`)).Digest, dockerDigest);
    assert.ok((await raw(`docker://${host}/files/docker@${dockerDigest}`)).equals(dockerBytes));

    // dir: keeps the manifest as served, so its bytes must be the schema 2 ones
    const dirOut = join(work, 'pulled-files-docker');
    await skopeo(['copy', `docker://${host}/files/docker:1`, `dir:${dirOut}`]);
    assert.ok((await readFile(join(dirOut, 'manifest.json'))).equals(dockerBytes));
    await assertSameBlobs(await dirTransportBlobs(dirOut), [image.config.digest, ...image.layers.map((l) => l.digest)]);
  });

  it('inspect shows the pushed digest, layers and config; list-tags lists exactly the pushed tags', async () => {
    const first = await smallImage('inspect-first');
    const second = await smallImage('inspect-second');
    await push('inspect-first', 'inspect/app:one');
    await push('inspect-first', 'inspect/app:two');
    await push('inspect-second', 'inspect/app:three');
    const tags = ['one', 'three', 'two'];

    // The spec wants lexical order; Distribution 2.8 returns directory order, so only the set is compared there.
    const listed = await listTags('inspect/app');
    assert.deepEqual(againstDistribution ? [...listed].sort() : listed, tags);

    const details = await inspect(`docker://${host}/inspect/app:one`);
    assert.equal(details.Name, `${host}/inspect/app`);
    assert.equal(details.Digest, first.manifest.digest);
    assert.deepEqual(
      details.Layers,
      first.layers.map((layer) => layer.digest),
    );
    assert.equal(details.Architecture, 'amd64');
    assert.equal(details.Os, 'linux');
    assert.deepEqual(details.Labels, { 'org.wharf.test.tag': 'inspect-first' });
    assert.deepEqual(againstDistribution ? [...details.RepoTags].sort() : details.RepoTags, tags);
    assert.equal((await inspect(`docker://${host}/inspect/app:two`)).Digest, first.manifest.digest);
    assert.equal((await inspect(`docker://${host}/inspect/app:three`)).Digest, second.manifest.digest);

    assert.ok((await raw(`docker://${host}/inspect/app:one`)).equals(first.manifestBytes));
    assert.ok((await raw(`docker://${host}/inspect/app@${second.manifest.digest}`)).equals(second.manifestBytes));
    assert.ok((await raw(`docker://${host}/inspect/app:three`, '--config')).equals(second.configBytes));
    const config = JSON.parse((await skopeo(['inspect', '--config', `docker://${host}/inspect/app:one`])).stdout) as {
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(config.rootfs.diff_ids, first.diffIds);
  });

  it('copies a multi-platform index with --all and pulls back every child manifest', async () => {
    const platforms = [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 's390x' },
    ];
    const built = await buildMultiPlatformLayout(layout, 'multi', platforms);
    await push('multi', 'multi/app:1', '--all');

    assert.ok((await raw(`docker://${host}/multi/app:1`)).equals(built.indexBytes));
    for (const image of built.images) {
      assert.ok((await raw(`docker://${host}/multi/app@${image.manifest.digest}`)).equals(image.manifestBytes));
      assert.ok(
        (await raw(`docker://${host}/multi/app@${image.manifest.digest}`, '--config')).equals(image.configBytes),
      );
    }

    const out = join(work, 'pulled-multi');
    await skopeo(['copy', '--all', `docker://${host}/multi/app:1`, `oci:${out}:1`]);
    assert.equal((await layoutTag(out, '1')).digest, built.index.digest);
    await assertSameBlobs(await layoutBlobs(out), built.blobDigests);

    const arm = built.images[1]!;
    const armOut = join(work, 'pulled-multi-arm64');
    await skopeo([
      'copy',
      '--override-arch=arm64',
      '--override-variant=v8',
      `docker://${host}/multi/app:1`,
      `oci:${armOut}:1`,
    ]);
    assert.equal((await layoutTag(armOut, '1')).digest, arm.manifest.digest);
    await assertSameBlobs(await layoutBlobs(armOut), arm.blobDigests);
  });

  it('copies between two repositories of the registry by mounting the blobs', async () => {
    const image = await buildImageLayout(layout, {
      tag: 'mount',
      layers: [
        { files: { 'var/lib/first.bin': seededRandomBytes('mount/first', 200 * 1024) } },
        { files: { 'var/lib/second.bin': seededRandomBytes('mount/second', 300 * 1024) } },
      ],
    });
    await push('mount', 'mount/a:1');

    const { stderr } = await skopeo(['copy', '--debug', `docker://${host}/mount/a:1`, `docker://${host}/mount/b:1`]);
    // skopeo's debug log is the only place the client tells whether a blob was mounted or uploaded again
    for (const layer of image.layers) {
      const attempt = `Trying to mount /v2/mount/b/blobs/uploads/?from=mount%2Fa&mount=${encodeURIComponent(layer.digest)}`;
      assert.ok(stderr.includes(attempt), `skopeo did not try to mount ${layer.digest}`);
      assert.ok(!stderr.includes(`Upload of layer ${layer.digest} complete`), `${layer.digest} was uploaded again`);
    }
    const mounted = stderr.match(/\.\.\. mount OK/g)?.length ?? 0;
    assert.ok(mounted >= image.layers.length, `${mounted} of ${image.layers.length} layers mounted`);

    assert.ok((await raw(`docker://${host}/mount/b:1`)).equals(image.manifestBytes));
    const out = join(work, 'pulled-mount-b');
    await skopeo(['copy', `docker://${host}/mount/b:1`, `oci:${out}:1`]);
    assert.equal((await layoutTag(out, '1')).digest, image.manifest.digest);
    await assertSameBlobs(await layoutBlobs(out), image.blobDigests);
  });

  it('deletes a tagged image: it is then unknown by tag and by digest, other tags stay', async () => {
    const doomed = await smallImage('doomed');
    const kept = await smallImage('kept');
    await push('doomed', 'delete/app:doomed');
    await push('kept', 'delete/app:kept');

    await skopeo(['delete', `docker://${host}/delete/app:doomed`]);

    const manifestUnknown = (error: unknown) =>
      error instanceof SkopeoError && /manifest unknown/i.test(error.stderr) ? true : assert.fail(String(error));
    await assert.rejects(skopeo(['inspect', `docker://${host}/delete/app:doomed`]), manifestUnknown);
    await assert.rejects(skopeo(['inspect', `docker://${host}/delete/app@${doomed.manifest.digest}`]), manifestUnknown);
    assert.deepEqual(await listTags('delete/app'), ['kept']);
    assert.equal((await inspect(`docker://${host}/delete/app:kept`)).Digest, kept.manifest.digest);
  });

  it('moves a tag to the newly pushed manifest and keeps the old one reachable by digest', async () => {
    const original = await smallImage('retag-before');
    const replacement = await smallImage('retag-after');
    await push('retag-before', 'retag/app:latest');
    await push('retag-before', 'retag/app:latest');
    assert.equal(sha256(await raw(`docker://${host}/retag/app:latest`)), original.manifest.digest);

    await push('retag-after', 'retag/app:latest');
    assert.ok((await raw(`docker://${host}/retag/app:latest`)).equals(replacement.manifestBytes));
    assert.ok((await raw(`docker://${host}/retag/app@${original.manifest.digest}`)).equals(original.manifestBytes));
    assert.deepEqual(await listTags('retag/app'), ['latest']);
  });

  it('syncs every tag of a repository into another prefix, from the registry and from a YAML list', async () => {
    const images = { '1.0': await smallImage('sync-1.0'), '1.1': await smallImage('sync-1.1') };
    await push('sync-1.0', 'sync/app:1.0');
    await push('sync-1.1', 'sync/app:1.1');
    await push('sync-1.1', 'sync/app:latest');
    const expected: Record<string, string> = {
      '1.0': images['1.0'].manifest.digest,
      '1.1': images['1.1'].manifest.digest,
      latest: images['1.1'].manifest.digest,
    };

    await skopeo(['sync', '--src', 'docker', '--dest', 'docker', `${host}/sync/app`, `${host}/mirror`]);
    assert.deepEqual((await listTags('mirror/app')).sort(), Object.keys(expected).sort());
    for (const [tag, digest] of Object.entries(expected)) {
      assert.equal(sha256(await raw(`docker://${host}/mirror/app:${tag}`)), digest, `mirror/app:${tag}`);
    }

    const yamlPath = join(work, 'sync.yaml');
    await writeFile(yamlPath, `${host}:\n  tls-verify: false\n  images:\n    sync/app: ['1.0', 'latest']\n`);
    await skopeo(['sync', '--src', 'yaml', '--dest', 'docker', yamlPath, `${host}/from-yaml`]);
    assert.deepEqual((await listTags('from-yaml/app')).sort(), ['1.0', 'latest']);
    for (const tag of ['1.0', 'latest']) {
      assert.equal(sha256(await raw(`docker://${host}/from-yaml/app:${tag}`)), expected[tag], `from-yaml/app:${tag}`);
    }
  });
});
