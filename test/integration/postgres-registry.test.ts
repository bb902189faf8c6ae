import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  type Descriptor,
  descriptorOf,
  emptyDescriptor,
  emptyJson,
  MediaType,
  nextLink,
  ociManifest,
  pushBlob,
  pushImage,
  pushManifest,
  send,
  sha256,
} from '../helpers/http.ts';
import { buildImageLayout, layoutBlobs, layoutTag } from '../helpers/images.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';
import { buildImage, pullAndVerify, pushImage as pushWholeImage, randomBlob } from '../helpers/push.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * The distribution API with its metadata in PostgreSQL: the same answers as on SQLite. The
 * database sorts text by an ICU locale (`a` before `B`), as production databases often do, so the
 * byte order of tag and catalog pages shows that Wharf's columns compare bytes.
 */
describe('the registry on PostgreSQL', () => {
  let postgres: Postgres;
  let databaseUrl: string;
  let wharf: WharfProcess;
  let work: string;

  /** Every page of a tags or catalog listing, following the Link headers. */
  const allPages = async (first: string, key: 'tags' | 'repositories'): Promise<string[][]> => {
    const pages: string[][] = [];
    let url: URL | undefined = new URL(first);
    while (url !== undefined) {
      const result = await send(url);
      assert.equal(result.status, 200, result.text());
      pages.push(result.json<Record<string, string[]>>()[key] ?? []);
      url = nextLink(wharf.url, result);
    }
    return pages;
  };

  before(async () => {
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase({ icuLocale: 'en-US' });
    wharf = await startWharf({
      env: { REGISTRY_DATABASE_URL: databaseUrl, REGISTRY_STORAGE_DELETE_ENABLED: 'true' },
    });
    work = await mkdtemp(join(tmpdir(), 'wharf-postgres-registry-'));
  });

  after(async () => {
    await wharf?.close();
    await postgres?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('starts on PostgreSQL and says so', () => {
    assert.match(wharf.output(), new RegExp(`database=${databaseUrl.replaceAll('.', '\\.')}`));
  });

  it('takes a skopeo push and gives back the same manifest and blob bytes', async () => {
    const layout = join(work, 'source');
    const image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [{ files: { 'etc/motd': 'metadata in PostgreSQL\n' } }, { files: { 'opt/data': 'z'.repeat(70_000) } }],
    });
    await skopeo(['copy', `oci:${layout}:v1`, `docker://${wharf.host}/pg/skopeo:v1`]);
    const pulled = join(work, 'pulled');
    await skopeo(['copy', `docker://${wharf.host}/pg/skopeo:v1`, `oci:${pulled}:v1`]);
    assert.equal((await layoutTag(pulled, 'v1')).digest, image.manifest.digest);
    const source = await layoutBlobs(layout);
    const blobs = await layoutBlobs(pulled);
    assert.deepEqual([...blobs.keys()].sort(), [...new Set(image.blobDigests)].sort());
    for (const [digest, blob] of blobs) {
      const original = source.get(digest);
      assert.ok(original, `${digest} was pushed`);
      assert.ok((await readFile(blob.path)).equals(await readFile(original.path)), `bytes of ${digest}`);
    }
  });

  it('lists tags in byte order, a page at a time', async () => {
    const tags = ['b', 'B', 'a', 'A', '_x', '1.0', 'a-1', 'a.1', 'Z9'];
    const image = await pushImage(wharf.url, 'pg/tags', 'first');
    for (const tag of tags) await pushManifest(wharf.url, 'pg/tags', tag, image.bytes, image.mediaType);
    const expected = ['1.0', 'A', 'B', 'Z9', '_x', 'a', 'a-1', 'a.1', 'b', 'first'];
    assert.deepEqual(await allPages(`${wharf.url}/v2/pg/tags/tags/list?n=3`, 'tags'), [
      ['1.0', 'A', 'B'],
      ['Z9', '_x', 'a'],
      ['a-1', 'a.1', 'b'],
      ['first'],
    ]);
    const after = await send(`${wharf.url}/v2/pg/tags/tags/list?last=a&n=100`);
    assert.deepEqual(after.json<{ tags: string[] }>().tags, expected.slice(expected.indexOf('a') + 1));
  });

  it('lists the catalog in byte order, a page at a time', async () => {
    const names = ['pg/cat/ab', 'pg/cat/a_b', 'pg/cat/a0', 'pg/cat/a/b', 'pg/cat/a.b', 'pg/cat/a-b'];
    for (const name of names) await pushImage(wharf.url, name, 'v1');
    const pages = await allPages(`${wharf.url}/v2/_catalog?n=4`, 'repositories');
    assert.ok(pages.every((page, index) => page.length === 4 || index === pages.length - 1));
    const all = pages.flat();
    assert.deepEqual(
      all.filter((name) => name.startsWith('pg/cat/')),
      ['pg/cat/a-b', 'pg/cat/a.b', 'pg/cat/a/b', 'pg/cat/a0', 'pg/cat/a_b', 'pg/cat/ab'],
    );
    assert.deepEqual(
      all,
      [...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
  });

  it('answers referrers, filtered by artifact type', async () => {
    const subject = await pushImage(wharf.url, 'pg/referrers', 'v1');
    const subjectDescriptor = descriptorOf(subject.mediaType, subject.bytes);
    await pushBlob(wharf.url, 'pg/referrers', emptyJson);
    const push = async (artifactType: string, note: string) => {
      const manifest = ociManifest({
        artifactType,
        config: emptyDescriptor,
        layers: [emptyDescriptor],
        subject: subjectDescriptor,
        annotations: { note },
      });
      const bytes = Buffer.from(JSON.stringify(manifest));
      return pushManifest(wharf.url, 'pg/referrers', sha256(bytes), bytes, MediaType.ociManifest);
    };
    const signature = await push('application/vnd.example.signature', 'signed');
    const sbom = await push('application/vnd.example.sbom', 'sbom');

    const all = await send(`${wharf.url}/v2/pg/referrers/referrers/${subject.digest}`);
    assert.equal(all.status, 200);
    assert.equal(all.headers.get('content-type'), MediaType.ociIndex);
    const listed = all.json<{ manifests: Descriptor[] }>().manifests;
    assert.deepEqual(listed.map((descriptor) => descriptor.digest).sort(), [signature.digest, sbom.digest].sort());
    const entry = listed.find((descriptor) => descriptor.digest === signature.digest);
    assert.deepEqual(entry, {
      mediaType: MediaType.ociManifest,
      digest: signature.digest,
      size: signature.bytes.length,
      artifactType: 'application/vnd.example.signature',
      annotations: { note: 'signed' },
    });

    const filtered = await send(
      `${wharf.url}/v2/pg/referrers/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`,
    );
    assert.equal(filtered.status, 200);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(
      filtered.json<{ manifests: Descriptor[] }>().manifests.map((descriptor) => descriptor.digest),
      [sbom.digest],
    );
  });

  it('deletes by tag (only the tag) and by digest (the manifest and its tags)', async () => {
    const image = await pushImage(wharf.url, 'pg/delete', 'v1');
    await pushManifest(wharf.url, 'pg/delete', 'v2', image.bytes, image.mediaType);
    const manifestUrl = (reference: string) => `${wharf.url}/v2/pg/delete/manifests/${reference}`;

    assert.equal((await send(manifestUrl('v1'), { method: 'DELETE' })).status, 202);
    assertError(await send(manifestUrl('v1')), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await send(manifestUrl(image.digest), { method: 'HEAD' })).status, 200);
    assert.deepEqual((await send(`${wharf.url}/v2/pg/delete/tags/list`)).json<{ tags: string[] }>().tags, ['v2']);

    assert.equal((await send(manifestUrl(image.digest), { method: 'DELETE' })).status, 202);
    assertError(await send(manifestUrl(image.digest)), 404, 'MANIFEST_UNKNOWN');
    assertError(await send(manifestUrl('v2')), 404, 'MANIFEST_UNKNOWN');
    assertError(await send(manifestUrl(image.digest), { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');

    // The blobs stay; pushing the same manifest again brings it back.
    await pushManifest(wharf.url, 'pg/delete', 'v3', image.bytes, image.mediaType);
    assert.equal((await send(manifestUrl('v3'))).status, 200);
  });

  it('shares one database and one storage root between two instances pushing the same tag at once', async () => {
    const other = await startWharf({
      dataDir: wharf.dataDir,
      env: { REGISTRY_DATABASE_URL: databaseUrl, REGISTRY_STORAGE_DELETE_ENABLED: 'true' },
    });
    try {
      const shared = randomBlob(200_000);
      const images = Array.from({ length: 8 }, (_, index) => buildImage([shared, randomBlob(4096)], `race-${index}`));
      const answers = await Promise.all(
        images.map((image, index) =>
          pushWholeImage(index % 2 === 0 ? wharf.url : other.url, 'pg/race', 'latest', image).then(
            (response) => response.status,
          ),
        ),
      );
      assert.deepEqual(
        answers,
        images.map(() => 201),
      );

      // Both instances see the same tag, on one of the pushed images, with all its bytes.
      const fromFirst = await pullAndVerify(wharf.url, 'pg/race', 'latest');
      const fromOther = await pullAndVerify(other.url, 'pg/race', 'latest');
      assert.equal(fromFirst, fromOther);
      assert.ok(images.some((image) => image.manifest.digest === fromFirst));
      for (const image of images) {
        await pullAndVerify(other.url, 'pg/race', image.manifest.digest, image);
        await pullAndVerify(wharf.url, 'pg/race', image.manifest.digest, image);
      }

      // One instance deletes what the other pushes, at the same time: every push is taken (201),
      // every delete finds the manifest (202) or not (404); never a server error.
      const [pushes, deletes] = await Promise.all([
        Promise.all(
          images.map((image, index) =>
            pushWholeImage(other.url, 'pg/race', `t${index}`, image).then((response) => response.status),
          ),
        ),
        Promise.all(
          images.map((image) =>
            send(`${wharf.url}/v2/pg/race/manifests/${image.manifest.digest}`, { method: 'DELETE' }).then(
              (result) => result.status,
            ),
          ),
        ),
      ]);
      assert.deepEqual(
        pushes,
        images.map(() => 201),
      );
      assert.ok(
        deletes.every((status) => status === 202 || status === 404),
        `DELETE statuses: ${deletes}`,
      );
      const tags = (await send(`${other.url}/v2/pg/race/tags/list`)).json<{ tags: string[] | null }>().tags ?? [];
      for (const tag of tags) await pullAndVerify(wharf.url, 'pg/race', tag);
    } finally {
      await other.stop();
    }
  });
});
