import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
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
import { type BuiltIndex, buildMultiPlatformLayout, readLayoutIndex } from '../helpers/images.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';
import { type CliResult, runWharf } from '../helpers/wharf-cli.ts';

/**
 * `wharf copy` between Wharf and CNCF Distribution 2.8: a three-platform index with a signature,
 * an SBOM on one platform's image and a countersignature on the signature, there and back, every
 * digest compared; then what a second run skips, platform filters, dry runs and OCI layouts.
 */

const accept = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifest, MediaType.dockerManifestList].join(
  ', ',
);

async function manifestDigest(baseUrl: string, repository: string, reference: string): Promise<string | undefined> {
  const answer = await send(`${baseUrl}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { accept },
  });
  return answer.status === 200 ? (answer.headers.get('docker-content-digest') ?? undefined) : undefined;
}

async function manifestBytes(baseUrl: string, repository: string, reference: string): Promise<Buffer> {
  const answer = await send(`${baseUrl}/v2/${repository}/manifests/${reference}`, { headers: { accept } });
  assert.equal(answer.status, 200, `GET ${repository}:${reference}: ${answer.text()}`);
  return answer.body;
}

/** The digests the referrers API (Wharf) lists for a subject. */
async function referrersOf(baseUrl: string, repository: string, subject: string): Promise<string[]> {
  const answer = await send(`${baseUrl}/v2/${repository}/referrers/${subject}`);
  assert.equal(answer.status, 200);
  return answer
    .json<{ manifests: Descriptor[] }>()
    .manifests.map((entry) => entry.digest)
    .sort();
}

/** The digests Distribution's referrers fallback tag `sha256-<hex>` lists for a subject. */
async function fallbackReferrersOf(baseUrl: string, repository: string, subject: string): Promise<string[]> {
  const tag = subject.replace(':', '-');
  const answer = await send(`${baseUrl}/v2/${repository}/manifests/${tag}`, {
    headers: { accept: MediaType.ociIndex },
  });
  if (answer.status === 404) return [];
  assert.equal(answer.status, 200);
  return answer
    .json<{ manifests: Descriptor[] }>()
    .manifests.map((entry) => entry.digest)
    .sort();
}

/** Pushes an artifact manifest (empty config, one layer) that refers to `subject`. */
async function pushReferrer(
  baseUrl: string,
  repository: string,
  subject: Descriptor,
  artifactType: string,
  content: string,
): Promise<Descriptor> {
  await pushBlob(baseUrl, repository, emptyJson);
  const layerBytes = Buffer.from(content);
  await pushBlob(baseUrl, repository, layerBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType,
    config: emptyDescriptor,
    layers: [{ mediaType: 'application/octet-stream', digest: sha256(layerBytes), size: layerBytes.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  await pushManifest(baseUrl, repository, sha256(bytes), bytes, MediaType.ociManifest);
  return { mediaType: MediaType.ociManifest, digest: sha256(bytes), size: bytes.length };
}

function summaryCount(result: CliResult, pattern: RegExp): number {
  const match = pattern.exec(result.stdout);
  assert.ok(match, `no ${pattern} in the summary:\n${result.stdout}\n${result.stderr}`);
  return Number(match[1]);
}

function assertSuccess(result: CliResult, what: string): void {
  assert.equal(result.code, 0, `${what} exited with ${result.code}\n${result.stdout}\n${result.stderr}`);
}

describe('wharf copy', () => {
  let work: string;
  let wharf: WharfProcess;
  let reference: ReferenceRegistry;
  let built: BuiltIndex;
  let signature: Descriptor;
  let sbom: Descriptor;
  let countersignature: Descriptor;
  const insecure = ['--src-tls-verify=false', '--dest-tls-verify=false'];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-copy-'));
    [wharf, reference] = await Promise.all([startWharf(), startReferenceRegistry()]);
    built = await buildMultiPlatformLayout(join(work, 'source'), 'v1', [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ]);
    await skopeo(['copy', '--all', `oci:${join(work, 'source')}:v1`, `docker://${wharf.host}/team/app:v1`]);
    signature = await pushReferrer(wharf.url, 'team/app', built.index, 'application/vnd.example.signature', 'signed');
    const arm64 = built.images[1]?.manifest as Descriptor;
    sbom = await pushReferrer(wharf.url, 'team/app', arm64, 'application/spdx+json', '{"spdxVersion":"SPDX-2.3"}');
    countersignature = await pushReferrer(
      wharf.url,
      'team/app',
      signature,
      'application/vnd.example.signature',
      'countersigned',
    );
  });

  after(async () => {
    await Promise.all([wharf?.close(), reference?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('copies a multi-platform index with its referrers to Distribution, which keeps them under fallback tags', async () => {
    const result = await runWharf([
      'copy',
      ...insecure,
      `docker://${wharf.host}/team/app:v1`,
      `docker://${reference.host}/mirror/app:v1`,
    ]);
    assertSuccess(result, 'wharf copy');
    assert.equal(await manifestDigest(reference.url, 'mirror/app', 'v1'), built.index.digest);
    assert.deepEqual(await manifestBytes(reference.url, 'mirror/app', 'v1'), built.indexBytes);
    for (const image of built.images) {
      assert.deepEqual(await manifestBytes(reference.url, 'mirror/app', image.manifest.digest), image.manifestBytes);
    }
    assert.deepEqual(await fallbackReferrersOf(reference.url, 'mirror/app', built.index.digest), [signature.digest]);
    assert.deepEqual(
      await fallbackReferrersOf(reference.url, 'mirror/app', built.images[1]?.manifest.digest as string),
      [sbom.digest],
    );
    assert.deepEqual(await fallbackReferrersOf(reference.url, 'mirror/app', signature.digest), [
      countersignature.digest,
    ]);
    // 3 platform images + the index + 3 referrers; blobs: 3 configs, a shared base layer, 3 own layers, the empty config, 3 artifact layers.
    assert.equal(summaryCount(result, /^manifests: (\d+) copied/m), 7);
    assert.equal(summaryCount(result, /^blobs: (\d+) copied/m), 11);
    assert.match(result.stderr, /copied docker:\/\/.*team\/app:v1 → docker:\/\/.*mirror\/app:v1 sha256:/);
  });

  it('copies it back into Wharf with every digest unchanged, the referrers found through the API', async () => {
    const result = await runWharf([
      'copy',
      ...insecure,
      `docker://${reference.host}/mirror/app:v1`,
      `docker://${wharf.host}/team/back:v1`,
    ]);
    assertSuccess(result, 'wharf copy back');
    assert.equal(await manifestDigest(wharf.url, 'team/back', 'v1'), built.index.digest);
    for (const image of built.images) {
      assert.equal(await manifestDigest(wharf.url, 'team/back', image.manifest.digest), image.manifest.digest);
      for (const digest of image.blobDigests.slice(1)) {
        const blob = await send(`${wharf.url}/v2/team/back/blobs/${digest}`);
        assert.equal(blob.status, 200);
        assert.equal(sha256(blob.body), digest);
      }
    }
    assert.deepEqual(await referrersOf(wharf.url, 'team/back', built.index.digest), [signature.digest]);
    assert.deepEqual(await referrersOf(wharf.url, 'team/back', built.images[1]?.manifest.digest as string), [
      sbom.digest,
    ]);
    assert.deepEqual(await referrersOf(wharf.url, 'team/back', signature.digest), [countersignature.digest]);
    // Distribution's fallback tag index was not copied as an image of its own.
    assert.equal(await manifestDigest(wharf.url, 'team/back', built.index.digest.replace(':', '-')), undefined);
  });

  it('skips everything the destination has when run again', async () => {
    const result = await runWharf([
      'copy',
      ...insecure,
      `docker://${wharf.host}/team/app:v1`,
      `docker://${reference.host}/mirror/app:v1`,
    ]);
    assertSuccess(result, 'second copy');
    assert.equal(summaryCount(result, /^manifests: (\d+) copied/m), 0);
    assert.equal(summaryCount(result, /^blobs: (\d+) copied/m), 0);
    assert.equal(summaryCount(result, /^manifests: \d+ copied, (\d+) already there/m), 7);
  });

  it('mounts the blobs instead of copying them within one registry', async () => {
    const result = await runWharf([
      'copy',
      ...insecure,
      `docker://${wharf.host}/team/app:v1`,
      `docker://${wharf.host}/team/mounted:v1`,
    ]);
    assertSuccess(result, 'copy within Wharf');
    assert.equal(summaryCount(result, /^blobs: (\d+) copied/m), 0);
    assert.equal(summaryCount(result, /(\d+) mounted/), 11);
    assert.equal(await manifestDigest(wharf.url, 'team/mounted', 'v1'), built.index.digest);
  });

  it('copies one platform as its image alone, and several as a smaller index', async () => {
    const one = await runWharf([
      'copy',
      ...insecure,
      '--platform',
      'linux/arm64',
      `docker://${wharf.host}/team/app:v1`,
      `docker://${reference.host}/platforms/arm64:v1`,
    ]);
    assertSuccess(one, 'copy --platform linux/arm64');
    assert.equal(await manifestDigest(reference.url, 'platforms/arm64', 'v1'), built.images[1]?.manifest.digest);
    assert.deepEqual(
      await fallbackReferrersOf(reference.url, 'platforms/arm64', built.images[1]?.manifest.digest as string),
      [sbom.digest],
    );
    assert.match(one.stderr, /only linux\/arm64/);

    const two = await runWharf([
      'copy',
      ...insecure,
      '--platform',
      'linux/amd64',
      '--platform',
      'linux/arm',
      `docker://${wharf.host}/team/app:v1`,
      `docker://${reference.host}/platforms/two:v1`,
    ]);
    assertSuccess(two, 'copy with two platforms');
    const index = JSON.parse((await manifestBytes(reference.url, 'platforms/two', 'v1')).toString()) as {
      manifests: Descriptor[];
    };
    assert.deepEqual(
      index.manifests.map((entry) => entry.digest),
      [built.images[0]?.manifest.digest, built.images[2]?.manifest.digest],
    );
  });

  it('resumes: a copy after a partial one transfers only what is missing', async () => {
    const partial = await runWharf([
      'copy',
      ...insecure,
      '--no-referrers',
      '--platform',
      'linux/amd64',
      `docker://${wharf.host}/team/app:v1`,
      `docker://${reference.host}/resume/app:partial`,
    ]);
    assertSuccess(partial, 'partial copy');
    assert.equal(summaryCount(partial, /^blobs: (\d+) copied/m), 3);
    const full = await runWharf([
      'copy',
      ...insecure,
      `docker://${wharf.host}/team/app:v1`,
      `docker://${reference.host}/resume/app:v1`,
    ]);
    assertSuccess(full, 'full copy');
    // The amd64 image is there, so none of its blobs is even asked about; only the base layer the
    // other platforms share is found already there.
    assert.equal(summaryCount(full, /^blobs: (\d+) copied/m), 8);
    assert.equal(summaryCount(full, /^blobs: \d+ copied \([^)]*\), (\d+) already there/m), 1);
    assert.equal(summaryCount(full, /^manifests: \d+ copied, (\d+) already there/m), 1);
  });

  it('writes nothing in a dry run, and says what it would copy', async () => {
    const result = await runWharf([
      'copy',
      ...insecure,
      '--dry-run',
      `docker://${wharf.host}/team/app:v1`,
      `docker://${reference.host}/dry/app:v1`,
    ]);
    assertSuccess(result, 'dry run');
    assert.match(result.stdout, /^would copy 7 manifests and 11 blobs/m);
    assert.equal(await manifestDigest(reference.url, 'dry/app', 'v1'), undefined);
    const catalog = await send(`${reference.url}/v2/_catalog`);
    assert.ok(!catalog.json<{ repositories: string[] }>().repositories.includes('dry/app'));
  });

  it('leaves the referrers out with --no-referrers', async () => {
    const result = await runWharf([
      'copy',
      ...insecure,
      '--no-referrers',
      `docker://${wharf.host}/team/app:v1`,
      `docker://${reference.host}/bare/app:v1`,
    ]);
    assertSuccess(result, 'copy --no-referrers');
    assert.equal(summaryCount(result, /^manifests: (\d+) copied/m), 4);
    assert.deepEqual(await fallbackReferrersOf(reference.url, 'bare/app', built.index.digest), []);
  });

  it('copies into an OCI layout that skopeo reads, with the referrers listed in index.json, and back', async () => {
    const layout = join(work, 'layout');
    assertSuccess(
      await runWharf(['copy', '--src-tls-verify=false', `docker://${wharf.host}/team/app:v1`, `oci:${layout}:v1`]),
      'copy to oci:',
    );
    const index = await readLayoutIndex(layout);
    const named = index.manifests.filter((entry) => entry.annotations?.['org.opencontainers.image.ref.name'] === 'v1');
    assert.deepEqual(
      named.map((entry) => entry.digest),
      [built.index.digest],
    );
    assert.deepEqual(
      index.manifests
        .filter((entry) => entry.annotations?.['org.opencontainers.image.ref.name'] === undefined)
        .map((entry) => entry.digest)
        .sort(),
      [signature.digest, sbom.digest, countersignature.digest].sort(),
    );
    const inspected = await skopeo(['inspect', '--raw', `oci:${layout}:v1`]);
    assert.equal(sha256(Buffer.from(inspected.stdout)), built.index.digest);
    assert.deepEqual(await readFile(join(layout, 'blobs', 'sha256', built.index.digest.slice(7))), built.indexBytes);

    assertSuccess(
      await runWharf([
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}:v1`,
        `docker://${wharf.host}/team/from-layout:v2`,
      ]),
      'copy from oci:',
    );
    assert.equal(await manifestDigest(wharf.url, 'team/from-layout', 'v2'), built.index.digest);
    assert.deepEqual(await referrersOf(wharf.url, 'team/from-layout', signature.digest), [countersignature.digest]);
  });

  it('explains a bad reference with exit status 2', async () => {
    const result = await runWharf(['copy', 'registry.example.com/app', `oci:${join(work, 'x')}`]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /is not an image reference: expected docker:\/\/REGISTRY\/REPOSITORY/);
  });
});
