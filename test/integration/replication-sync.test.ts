import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  emptyDescriptor,
  emptyJson,
  MediaType,
  ociIndex,
  type PushedImage,
  pushBlob,
  pushImage,
  pushManifest,
  send,
  sha256,
} from '../helpers/http.ts';
import { readLayoutIndex } from '../helpers/images.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';
import { type CliResult, runWharf } from '../helpers/wharf-cli.ts';

/** `wharf sync` from Distribution 2.8 into Wharf: tag filters, repository lists, the catalog, layouts. */

async function tagsOf(baseUrl: string, repository: string): Promise<string[]> {
  const answer = await send(`${baseUrl}/v2/${repository}/tags/list`);
  if (answer.status === 404) return [];
  assert.equal(answer.status, 200, answer.text());
  return (answer.json<{ tags: string[] | null }>().tags ?? []).sort();
}

async function digestOf(baseUrl: string, repository: string, tag: string): Promise<string | undefined> {
  const answer = await send(`${baseUrl}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: [MediaType.ociManifest, MediaType.dockerManifest].join(', ') },
  });
  return answer.status === 200 ? (answer.headers.get('docker-content-digest') ?? undefined) : undefined;
}

function assertSuccess(result: CliResult, what: string): void {
  assert.equal(result.code, 0, `${what} exited with ${result.code}\n${result.stdout}\n${result.stderr}`);
}

function count(result: CliResult, pattern: RegExp): number {
  const match = pattern.exec(result.stdout);
  assert.ok(match, `no ${pattern} in:\n${result.stdout}`);
  return Number(match[1]);
}

describe('wharf sync', () => {
  let work: string;
  let wharf: WharfProcess;
  let reference: ReferenceRegistry;
  const app = new Map<string, PushedImage>();
  const web = new Map<string, PushedImage>();
  let signature: string;
  const insecure = ['--src-tls-verify=false', '--dest-tls-verify=false'];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-sync-'));
    [wharf, reference] = await Promise.all([startWharf(), startReferenceRegistry()]);
    for (const tag of ['1.0', '1.1', '2.0', 'latest', 'dev-7']) {
      app.set(tag, await pushImage(reference.url, 'src/app', tag, { docker: tag === '2.0' }));
    }
    // A signature of 2.0 kept the way registries without the referrers API keep it: under the
    // fallback tag sha256-<hex>, which is not an image to sync of its own.
    await pushBlob(reference.url, 'src/app', emptyJson);
    const subject = app.get('2.0') as PushedImage;
    const signatureBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        artifactType: 'application/vnd.example.signature',
        config: emptyDescriptor,
        layers: [emptyDescriptor],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length },
      }),
    );
    signature = (
      await pushManifest(reference.url, 'src/app', sha256(signatureBytes), signatureBytes, MediaType.ociManifest)
    ).digest;
    await pushManifest(
      reference.url,
      'src/app',
      subject.digest.replace(':', '-'),
      ociIndex({
        manifests: [
          {
            mediaType: MediaType.ociManifest,
            digest: signature,
            size: signatureBytes.length,
            artifactType: 'application/vnd.example.signature',
          },
        ],
      }),
      MediaType.ociIndex,
    );
    // Two tags of one image: copied once, tagged twice.
    const first = await pushImage(reference.url, 'src/web', 'a');
    await pushManifest(reference.url, 'src/web', 'b', first.bytes, first.mediaType);
    web.set('a', first);
    web.set('b', first);
  });

  after(async () => {
    await Promise.all([wharf?.close(), reference?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('takes the tags a glob or a /regular expression/ selects, keeping the repository path under the prefix', async () => {
    const result = await runWharf([
      'sync',
      ...insecure,
      '--tags',
      '1.*',
      '--tags',
      '/^lat/',
      `docker://${reference.host}/src/app`,
      `docker://${wharf.host}/mirror`,
    ]);
    assertSuccess(result, 'sync with tag filters');
    assert.deepEqual(await tagsOf(wharf.url, 'mirror/src/app'), ['1.0', '1.1', 'latest']);
    for (const tag of ['1.0', '1.1', 'latest']) {
      assert.equal(await digestOf(wharf.url, 'mirror/src/app', tag), app.get(tag)?.digest);
    }
    assert.equal(count(result, /^(\d+) images copied/m), 3);
    assert.equal(count(result, /^blobs: (\d+) copied/m), 6);
  });

  it('moves only what changed when run again', async () => {
    await pushImage(reference.url, 'src/app', '1.2');
    const result = await runWharf([
      'sync',
      ...insecure,
      '--tags',
      '1.*',
      '--tags',
      '/^lat/',
      `docker://${reference.host}/src/app`,
      `docker://${wharf.host}/mirror`,
    ]);
    assertSuccess(result, 'second sync');
    assert.equal(count(result, /^(\d+) images copied/m), 4);
    assert.equal(count(result, /^manifests: (\d+) copied/m), 1);
    assert.equal(count(result, /^manifests: \d+ copied, (\d+) already there/m), 3);
    assert.equal(count(result, /^blobs: (\d+) copied/m), 2);
    assert.deepEqual(await tagsOf(wharf.url, 'mirror/src/app'), ['1.0', '1.1', '1.2', 'latest']);
  });

  it('syncs a list of repositories of a registry, every tag', async () => {
    const result = await runWharf([
      'sync',
      ...insecure,
      '--repository',
      'src/app',
      '--repository',
      'src/web',
      `docker://${reference.host}`,
      `docker://${wharf.host}/all`,
    ]);
    assertSuccess(result, 'sync of two repositories');
    assert.deepEqual(await tagsOf(wharf.url, 'all/src/app'), ['1.0', '1.1', '1.2', '2.0', 'dev-7', 'latest']);
    assert.deepEqual(await tagsOf(wharf.url, 'all/src/web'), ['a', 'b']);
    assert.equal(await digestOf(wharf.url, 'all/src/app', '2.0'), app.get('2.0')?.digest);
    const referrers = await send(`${wharf.url}/v2/all/src/app/referrers/${app.get('2.0')?.digest}`);
    assert.deepEqual(
      referrers.json<{ manifests: { digest: string }[] }>().manifests.map((entry) => entry.digest),
      [signature],
    );
    assert.equal(await digestOf(wharf.url, 'all/src/web', 'b'), web.get('a')?.digest);
  });

  it('syncs the whole catalog into an OCI layout named repository:tag, and from there into Wharf', async () => {
    const layout = join(work, 'layout');
    assertSuccess(
      await runWharf(['sync', '--src-tls-verify=false', `docker://${reference.host}`, `oci:${layout}`]),
      'sync into a layout',
    );
    const entries = (await readLayoutIndex(layout)).manifests;
    const names = entries
      .map((entry) => entry.annotations?.['org.opencontainers.image.ref.name'])
      .filter(Boolean)
      .sort();
    // The signature of 2.0 is listed without a name, so that it is found again as a referrer.
    assert.deepEqual(
      entries.filter((entry) => entry.annotations === undefined).map((entry) => entry.digest),
      [signature],
    );
    assert.deepEqual(names, [
      'src/app:1.0',
      'src/app:1.1',
      'src/app:1.2',
      'src/app:2.0',
      'src/app:dev-7',
      'src/app:latest',
      'src/web:a',
      'src/web:b',
    ]);
    const result = await runWharf([
      'sync',
      '--dest-tls-verify=false',
      '--tags',
      'dev-*',
      `oci:${layout}`,
      `docker://${wharf.host}/offline`,
    ]);
    assertSuccess(result, 'sync from a layout');
    assert.deepEqual(await tagsOf(wharf.url, 'offline/src/app'), ['dev-7']);
    assert.equal(await digestOf(wharf.url, 'offline/src/app', 'dev-7'), app.get('dev-7')?.digest);
  });

  it('reports a repository the source does not have, and exits 1', async () => {
    const result = await runWharf([
      'sync',
      ...insecure,
      `docker://${reference.host}/src/none`,
      `docker://${wharf.host}/x`,
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /NAME_UNKNOWN/);
  });
});
