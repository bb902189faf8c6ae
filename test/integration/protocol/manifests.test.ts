import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  type Descriptor,
  descriptorOf,
  dockerManifestList,
  emptyDescriptor,
  emptyJson,
  locationOf,
  MediaType,
  ociIndex,
  ociManifest,
  type PushedManifest,
  pushBlob,
  pushImage,
  pushManifest,
  putManifest,
  randomBlob,
  rawRequest,
  send,
  sha256,
  sha512,
  uniqueRepo,
} from '../../helpers/http.ts';
import { startWharf, type WharfProcess } from '../../helpers/wharf.ts';

describe('manifests (end-3, end-7, end-9)', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWharf({ env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true' } });
  });
  after(async () => {
    await wharf?.close();
  });

  const manifestUrl = (repo: string, reference: string) => `${wharf.url}/v2/${repo}/manifests/${reference}`;

  /** GET and HEAD by every reference serve exactly what was pushed, with its type and digest. */
  async function assertServed(repo: string, pushed: PushedManifest, references: string[]): Promise<void> {
    for (const reference of [...references, pushed.digest]) {
      const got = await send(manifestUrl(repo, reference));
      assert.equal(got.status, 200, `GET ${reference}: ${got.text()}`);
      assert.deepEqual(got.body, pushed.bytes, `GET ${reference} serves the pushed bytes`);
      assert.equal(got.headers.get('content-type'), pushed.mediaType);
      assert.equal(got.headers.get('docker-content-digest'), pushed.digest);

      const head = await send(manifestUrl(repo, reference), { method: 'HEAD' });
      assert.equal(head.status, 200, `HEAD ${reference}`);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers.get('content-length'), String(pushed.bytes.length));
      assert.equal(head.headers.get('content-type'), pushed.mediaType);
      assert.equal(head.headers.get('docker-content-digest'), pushed.digest);
    }
  }

  function assertPushResponse(pushed: PushedManifest): void {
    assert.equal(pushed.result.status, 201);
    assert.equal(pushed.result.headers.get('docker-content-digest'), pushed.digest);
    assert.ok(pushed.result.headers.get('location'), 'Location on 201');
  }

  async function pushLayer(repo: string, mediaType: string = MediaType.ociLayer): Promise<Descriptor> {
    const bytes = randomBlob(200);
    await pushBlob(wharf.url, repo, bytes);
    return descriptorOf(mediaType, bytes);
  }

  describe('round trips', () => {
    it('OCI image manifest by tag and by digest; the Location is pullable', async () => {
      const repo = uniqueRepo('manifest-oci');
      const image = await pushImage(wharf.url, repo, 'v1');
      assertPushResponse(image);
      const location = await send(locationOf(wharf.url, image.result));
      assert.equal(location.status, 200);
      assert.deepEqual(location.body, image.bytes);
      await assertServed(repo, image, ['v1']);
    });

    it('OCI image manifest pushed by digest only', async () => {
      const repo = uniqueRepo('manifest-by-digest');
      const image = await pushImage(wharf.url, repo);
      assertPushResponse(image);
      await assertServed(repo, image, []);
    });

    it('bytes are kept exactly (whitespace, key order, trailing newline)', async () => {
      const repo = uniqueRepo('manifest-bytes');
      const config = await pushLayer(repo, MediaType.ociConfig);
      const layer = await pushLayer(repo);
      const text = `{\n   "layers": [ ${JSON.stringify(layer)} ],\n\t"config":${JSON.stringify(config)},
 "schemaVersion" : 2,   "mediaType": "${MediaType.ociManifest}", "annotations": {"z": "1", "a": "é"}\n}\n\n`;
      const pushed = await pushManifest(wharf.url, repo, 'odd', Buffer.from(text), MediaType.ociManifest);
      assertPushResponse(pushed);
      await assertServed(repo, pushed, ['odd']);
    });

    it('an OCI image manifest without a mediaType field is served with the pushed Content-Type', async () => {
      const repo = uniqueRepo('manifest-no-mediatype');
      const config = await pushLayer(repo, MediaType.ociConfig);
      const manifest = { schemaVersion: 2, config, layers: [await pushLayer(repo)] };
      const pushed = await pushManifest(wharf.url, repo, 'bare', manifest, MediaType.ociManifest);
      await assertServed(repo, pushed, ['bare']);
    });

    it('OCI image index', async () => {
      const repo = uniqueRepo('manifest-index');
      const amd64 = await pushImage(wharf.url, repo, undefined, { platform: 'linux/amd64' });
      const arm64 = await pushImage(wharf.url, repo, undefined, { platform: 'linux/arm64' });
      const index = ociIndex({
        manifests: [
          descriptorOf(MediaType.ociManifest, amd64.bytes, { platform: { os: 'linux', architecture: 'amd64' } }),
          descriptorOf(MediaType.ociManifest, arm64.bytes, { platform: { os: 'linux', architecture: 'arm64' } }),
        ],
      });
      const pushed = await pushManifest(wharf.url, repo, 'multi', index, MediaType.ociIndex);
      assertPushResponse(pushed);
      await assertServed(repo, pushed, ['multi']);
    });

    it('Docker schema 2 manifest', async () => {
      const repo = uniqueRepo('manifest-docker');
      const image = await pushImage(wharf.url, repo, 'v2', { docker: true });
      assertPushResponse(image);
      await assertServed(repo, image, ['v2']);
    });

    it('Docker manifest list', async () => {
      const repo = uniqueRepo('manifest-docker-list');
      const amd64 = await pushImage(wharf.url, repo, undefined, { docker: true, platform: 'linux/amd64' });
      const list = dockerManifestList([
        descriptorOf(MediaType.dockerManifest, amd64.bytes, { platform: { os: 'linux', architecture: 'amd64' } }),
      ]);
      const pushed = await pushManifest(wharf.url, repo, 'list', list, MediaType.dockerManifestList);
      assertPushResponse(pushed);
      await assertServed(repo, pushed, ['list']);
    });

    it('OCI artifact with artifactType and the empty config descriptor', async () => {
      const repo = uniqueRepo('manifest-artifact');
      const emptyDigest = await pushBlob(wharf.url, repo, emptyJson);
      assert.equal(emptyDigest, emptyDescriptor.digest);
      const data = randomBlob(100);
      await pushBlob(wharf.url, repo, data);
      const artifact = ociManifest({
        artifactType: 'application/vnd.example.sbom.v1',
        config: emptyDescriptor,
        layers: [descriptorOf('application/vnd.example.sbom.layer.v1+json', data)],
        annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
      });
      const pushed = await pushManifest(wharf.url, repo, 'sbom', artifact, MediaType.ociManifest);
      assertPushResponse(pushed);
      await assertServed(repo, pushed, ['sbom']);
    });

    it('OCI artifact with a custom config.mediaType and an empty layer list', async () => {
      const repo = uniqueRepo('manifest-artifact-config');
      const configBytes = Buffer.from('{"kind":"example"}');
      await pushBlob(wharf.url, repo, configBytes);
      const artifact = ociManifest({ config: descriptorOf('application/vnd.example.config.v1+json', configBytes) });
      const pushed = await pushManifest(wharf.url, repo, 'custom', artifact, MediaType.ociManifest);
      await assertServed(repo, pushed, ['custom']);
    });

    it('a manifest pushed by a sha512 digest is kept and served under that digest', async () => {
      const repo = uniqueRepo('manifest-sha512');
      await pushBlob(wharf.url, repo, emptyJson);
      const bytes = Buffer.from(JSON.stringify(ociManifest({ config: emptyDescriptor, annotations: { algo: '512' } })));
      const digest = sha512(bytes);
      const put = await putManifest(wharf.url, repo, digest, bytes, MediaType.ociManifest);
      assert.equal(put.status, 201, put.text());
      assert.equal(put.headers.get('docker-content-digest'), digest);
      const got = await send(manifestUrl(repo, digest));
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, bytes);
      assert.equal(got.headers.get('docker-content-digest'), digest);
      const wrong = sha512(Buffer.concat([bytes, Buffer.from('\n')]));
      assertError(await putManifest(wharf.url, repo, wrong, bytes, MediaType.ociManifest), 400, 'DIGEST_INVALID');
    });

    it('pushing the same manifest again is 201 with the same digest', async () => {
      const repo = uniqueRepo('manifest-repush');
      const image = await pushImage(wharf.url, repo, 'v1');
      const again = await pushManifest(wharf.url, repo, 'v1', image.bytes, image.mediaType);
      assert.equal(again.result.headers.get('docker-content-digest'), image.digest);
    });

    it('re-tagging moves the tag; the old manifest stays reachable by digest', async () => {
      const repo = uniqueRepo('manifest-retag');
      const first = await pushImage(wharf.url, repo, 'latest');
      const second = await pushImage(wharf.url, repo, 'latest');
      const latest = await send(manifestUrl(repo, 'latest'));
      assert.equal(latest.headers.get('docker-content-digest'), second.digest);
      assert.deepEqual((await send(manifestUrl(repo, first.digest))).body, first.bytes);
    });
  });

  describe('rejections', () => {
    it('a missing layer or config blob is 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = uniqueRepo('manifest-missing-blob');
      const config = await pushLayer(repo, MediaType.ociConfig);
      const missing = descriptorOf(MediaType.ociLayer, randomBlob(10));
      const withMissingLayer = Buffer.from(JSON.stringify(ociManifest({ config, layers: [missing] })));
      assertError(
        await putManifest(wharf.url, repo, 'v1', withMissingLayer, MediaType.ociManifest),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      );
      const missingConfig = descriptorOf(MediaType.ociConfig, randomBlob(10));
      const withMissingConfig = Buffer.from(JSON.stringify(ociManifest({ config: missingConfig })));
      assertError(
        await putManifest(wharf.url, repo, 'v1', withMissingConfig, MediaType.ociManifest),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      );
      assertError(await send(manifestUrl(repo, 'v1')), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
    });

    it('a blob present only in another repository counts as missing', async () => {
      const repo = uniqueRepo('manifest-foreign-blob');
      const other = uniqueRepo('manifest-foreign-owner');
      const config = await pushLayer(repo, MediaType.ociConfig);
      const foreign = await pushLayer(other);
      const manifest = Buffer.from(JSON.stringify(ociManifest({ config, layers: [foreign] })));
      assertError(
        await putManifest(wharf.url, repo, 'v1', manifest, MediaType.ociManifest),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      );
    });

    it('an index whose child manifest is missing is 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = uniqueRepo('manifest-missing-child');
      const present = await pushImage(wharf.url, repo);
      const index = ociIndex({
        manifests: [
          descriptorOf(MediaType.ociManifest, present.bytes),
          descriptorOf(MediaType.ociManifest, Buffer.from('{"schemaVersion":2,"absent":true}')),
        ],
      });
      assertError(
        await putManifest(wharf.url, repo, 'multi', Buffer.from(JSON.stringify(index)), MediaType.ociIndex),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      );
    });

    it('schema 1 manifests are 400 MANIFEST_INVALID', async () => {
      const repo = uniqueRepo('manifest-schema1');
      const schema1 = Buffer.from(
        JSON.stringify({
          schemaVersion: 1,
          name: repo,
          tag: 'old',
          architecture: 'amd64',
          fsLayers: [],
          history: [],
          signatures: [],
        }),
      );
      for (const mediaType of [
        MediaType.dockerSchema1Signed,
        'application/vnd.docker.distribution.manifest.v1+json',
        'application/json',
      ]) {
        assertError(await putManifest(wharf.url, repo, 'old', schema1, mediaType), 400, 'MANIFEST_INVALID');
      }
      const config = await pushLayer(repo, MediaType.ociConfig);
      const versionOne = Buffer.from(JSON.stringify({ ...ociManifest({ config }), schemaVersion: 1 }));
      assertError(
        await putManifest(wharf.url, repo, 'old', versionOne, MediaType.ociManifest),
        400,
        'MANIFEST_INVALID',
      );
    });

    it('invalid JSON is 400 MANIFEST_INVALID', async () => {
      const repo = uniqueRepo('manifest-bad-json');
      for (const body of ['{"schemaVersion": 2,', 'not json', '[]', '']) {
        assertError(
          await putManifest(wharf.url, repo, 'bad', Buffer.from(body), MediaType.ociManifest),
          400,
          'MANIFEST_INVALID',
        );
      }
    });

    it('a manifest that is not a valid image manifest is 400 MANIFEST_INVALID', async () => {
      const repo = uniqueRepo('manifest-bad-shape');
      const bodies = [
        { schemaVersion: 2, mediaType: MediaType.ociManifest, layers: [] },
        { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { digest: 'sha256:00' }, layers: [] },
        { schemaVersion: 3, mediaType: MediaType.ociManifest, config: emptyDescriptor, layers: [] },
      ];
      for (const body of bodies) {
        assertError(
          await putManifest(wharf.url, repo, 'bad', Buffer.from(JSON.stringify(body)), MediaType.ociManifest),
          400,
          'MANIFEST_INVALID',
        );
      }
    });

    it('a Content-Type that contradicts the mediaType field is 400 MANIFEST_INVALID', async () => {
      const repo = uniqueRepo('manifest-type-mismatch');
      await pushBlob(wharf.url, repo, emptyJson);
      const manifest = Buffer.from(JSON.stringify(ociManifest({ config: emptyDescriptor })));
      assertError(await putManifest(wharf.url, repo, 'x', manifest, MediaType.ociIndex), 400, 'MANIFEST_INVALID');
    });

    it('a manifest over 4 MiB is 413 SIZE_INVALID', async () => {
      const repo = uniqueRepo('manifest-too-large');
      await pushBlob(wharf.url, repo, emptyJson);
      const manifest = ociManifest({
        config: emptyDescriptor,
        annotations: { padding: 'x'.repeat(4 * 1024 * 1024 + 10) },
      });
      const result = await rawRequest(wharf.url, {
        method: 'PUT',
        path: `/v2/${repo}/manifests/huge`,
        headers: { 'content-type': MediaType.ociManifest },
        body: Buffer.from(JSON.stringify(manifest)),
        holdBodyMs: 500,
      });
      assertError(result, 413, 'SIZE_INVALID');
      assertError(await send(manifestUrl(repo, 'huge')), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
    });

    it('a manifest just under 4 MiB is accepted', async () => {
      const repo = uniqueRepo('manifest-large');
      await pushBlob(wharf.url, repo, emptyJson);
      const base = Buffer.from(JSON.stringify(ociManifest({ config: emptyDescriptor, annotations: { padding: '' } })));
      const manifest = ociManifest({
        config: emptyDescriptor,
        annotations: { padding: 'y'.repeat(4 * 1024 * 1024 - base.length) },
      });
      const bytes = Buffer.from(JSON.stringify(manifest));
      assert.equal(bytes.length, 4 * 1024 * 1024);
      const pushed = await pushManifest(wharf.url, repo, 'big', bytes, MediaType.ociManifest);
      const got = await send(manifestUrl(repo, 'big'));
      assert.equal(got.headers.get('docker-content-digest'), pushed.digest);
      assert.deepEqual(got.body, bytes);
    });

    it('PUT by a digest that does not match the body is 400 DIGEST_INVALID', async () => {
      const repo = uniqueRepo('manifest-wrong-digest');
      await pushBlob(wharf.url, repo, emptyJson);
      const bytes = Buffer.from(JSON.stringify(ociManifest({ config: emptyDescriptor })));
      const wrong = sha256(Buffer.concat([bytes, Buffer.from(' ')]));
      assertError(await putManifest(wharf.url, repo, wrong, bytes, MediaType.ociManifest), 400, 'DIGEST_INVALID');
      assertError(await send(manifestUrl(repo, wrong)), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
      assertError(await send(manifestUrl(repo, sha256(bytes))), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
    });

    it('an invalid tag in the path is a 400', async () => {
      const repo = uniqueRepo('manifest-bad-tag');
      await pushBlob(wharf.url, repo, emptyJson);
      const bytes = Buffer.from(JSON.stringify(ociManifest({ config: emptyDescriptor })));
      for (const tag of ['-dash-first', '.dot-first', 'a'.repeat(129)]) {
        assertError(await putManifest(wharf.url, repo, tag, bytes, MediaType.ociManifest), 400, [
          'TAG_INVALID',
          'MANIFEST_INVALID',
        ]);
      }
    });
  });

  describe('subject', () => {
    it('a manifest whose subject does not exist is accepted with OCI-Subject', async () => {
      const repo = uniqueRepo('manifest-subject');
      await pushBlob(wharf.url, repo, emptyJson);
      const subject = descriptorOf(MediaType.ociManifest, Buffer.from('{"not":"pushed"}'));
      const artifact = ociManifest({
        artifactType: 'application/vnd.example.signature.v1',
        config: emptyDescriptor,
        layers: [emptyDescriptor],
        subject,
      });
      const pushed = await pushManifest(
        wharf.url,
        repo,
        sha256(Buffer.from(JSON.stringify(artifact))),
        artifact,
        MediaType.ociManifest,
      );
      assert.equal(pushed.result.headers.get('oci-subject'), subject.digest);
      await assertServed(repo, pushed, []);
    });

    it('a manifest with an existing subject is accepted with OCI-Subject', async () => {
      const repo = uniqueRepo('manifest-subject-present');
      const image = await pushImage(wharf.url, repo, 'v1');
      await pushBlob(wharf.url, repo, emptyJson);
      const artifact = ociManifest({
        artifactType: 'application/vnd.example.sbom.v1',
        config: emptyDescriptor,
        layers: [emptyDescriptor],
        subject: descriptorOf(MediaType.ociManifest, image.bytes),
      });
      const pushed = await pushManifest(wharf.url, repo, 'sbom', artifact, MediaType.ociManifest);
      assert.equal(pushed.result.headers.get('oci-subject'), image.digest);
    });
  });

  describe('deletion', () => {
    it('DELETE by tag removes only the tag', async () => {
      const repo = uniqueRepo('manifest-untag');
      const image = await pushImage(wharf.url, repo, 'v1');
      await pushManifest(wharf.url, repo, 'v1-copy', image.bytes, image.mediaType);
      const deleted = await send(manifestUrl(repo, 'v1'), { method: 'DELETE' });
      assert.equal(deleted.status, 202);
      assertError(await send(manifestUrl(repo, 'v1')), 404, 'MANIFEST_UNKNOWN');
      assert.equal((await send(manifestUrl(repo, 'v1'), { method: 'HEAD' })).status, 404);
      await assertServed(repo, image, ['v1-copy']);
      const tags = await send(`${wharf.url}/v2/${repo}/tags/list`);
      assert.deepEqual(tags.json<{ tags: string[] }>().tags, ['v1-copy']);
    });

    it('DELETE by digest removes the manifest and every tag on it', async () => {
      const repo = uniqueRepo('manifest-delete');
      const image = await pushImage(wharf.url, repo, 'a');
      await pushManifest(wharf.url, repo, 'b', image.bytes, image.mediaType);
      const keep = await pushImage(wharf.url, repo, 'keep');
      const deleted = await send(manifestUrl(repo, image.digest), { method: 'DELETE' });
      assert.equal(deleted.status, 202);
      for (const reference of [image.digest, 'a', 'b']) {
        assertError(await send(manifestUrl(repo, reference)), 404, 'MANIFEST_UNKNOWN');
      }
      const tags = await send(`${wharf.url}/v2/${repo}/tags/list`);
      assert.deepEqual(tags.json<{ tags: string[] }>().tags, ['keep']);
      await assertServed(repo, keep, ['keep']);
    });

    it('a deleted manifest can be pushed again', async () => {
      const repo = uniqueRepo('manifest-repush-deleted');
      const image = await pushImage(wharf.url, repo, 'v1');
      assert.equal((await send(manifestUrl(repo, image.digest), { method: 'DELETE' })).status, 202);
      const again = await pushManifest(wharf.url, repo, 'v1', image.bytes, image.mediaType);
      assertPushResponse(again);
      await assertServed(repo, again, ['v1']);
    });

    it('DELETE of an unknown digest or tag is 404 MANIFEST_UNKNOWN', async () => {
      const repo = uniqueRepo('manifest-delete-unknown');
      await pushImage(wharf.url, repo, 'present');
      assertError(await send(manifestUrl(repo, sha256(randomBlob(4))), { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      assertError(await send(manifestUrl(repo, 'absent'), { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    it('DELETE in an unknown repository is 404', async () => {
      const repo = uniqueRepo('manifest-delete-no-repo');
      assertError(await send(manifestUrl(repo, sha256(randomBlob(4))), { method: 'DELETE' }), 404, [
        'MANIFEST_UNKNOWN',
        'NAME_UNKNOWN',
      ]);
    });
  });

  describe('lookups that fail', () => {
    it('manifests/sha256:totallywrong is a 400, never a 5xx', async () => {
      const repo = uniqueRepo('manifest-bad-ref');
      await pushImage(wharf.url, repo, 'v1');
      const url = manifestUrl(repo, 'sha256:totallywrong');
      const got = await send(url);
      assert.equal(got.status, 400, got.text());
      assertError(got, 400, ['DIGEST_INVALID', 'MANIFEST_INVALID', 'TAG_INVALID', 'MANIFEST_UNKNOWN']);
      assert.equal((await send(url, { method: 'HEAD' })).status, 400);
      assert.equal((await send(url, { method: 'DELETE' })).status, 400);
    });

    it('an unknown tag is 404 MANIFEST_UNKNOWN; HEAD is 404 without a body', async () => {
      const repo = uniqueRepo('manifest-unknown-tag');
      await pushImage(wharf.url, repo, 'v1');
      assertError(await send(manifestUrl(repo, 'nope')), 404, 'MANIFEST_UNKNOWN');
      assertError(await send(manifestUrl(repo, sha256(randomBlob(4)))), 404, 'MANIFEST_UNKNOWN');
      const head = await send(manifestUrl(repo, 'nope'), { method: 'HEAD' });
      assert.equal(head.status, 404);
      assert.equal(head.body.length, 0);
    });

    it('a manifest in an unknown repository is 404', async () => {
      assertError(await send(manifestUrl(uniqueRepo('manifest-no-repo'), 'latest')), 404, [
        'MANIFEST_UNKNOWN',
        'NAME_UNKNOWN',
      ]);
    });

    it('a manifest pushed to one repository is not found through another', async () => {
      const owner = uniqueRepo('manifest-owner');
      const other = uniqueRepo('manifest-other');
      const image = await pushImage(wharf.url, owner, 'v1');
      await pushImage(wharf.url, other, 'v1');
      assertError(await send(manifestUrl(other, image.digest)), 404, 'MANIFEST_UNKNOWN');
    });
  });

  describe('Accept negotiation', () => {
    it('a Docker manifest list by tag, Accept listing only schema 2, serves the linux/amd64 child', async () => {
      const repo = uniqueRepo('accept-list');
      const arm64 = await pushImage(wharf.url, repo, undefined, { docker: true, platform: 'linux/arm64' });
      const amd64 = await pushImage(wharf.url, repo, undefined, { docker: true, platform: 'linux/amd64' });
      const list = await pushManifest(
        wharf.url,
        repo,
        'multi',
        dockerManifestList([
          descriptorOf(MediaType.dockerManifest, arm64.bytes, { platform: { os: 'linux', architecture: 'arm64' } }),
          descriptorOf(MediaType.dockerManifest, amd64.bytes, { platform: { os: 'linux', architecture: 'amd64' } }),
        ]),
        MediaType.dockerManifestList,
      );

      const child = await send(manifestUrl(repo, 'multi'), { headers: { accept: MediaType.dockerManifest } });
      assert.equal(child.status, 200, child.text());
      assert.equal(child.headers.get('docker-content-digest'), amd64.digest);
      assert.equal(child.headers.get('content-type'), MediaType.dockerManifest);
      assert.deepEqual(child.body, amd64.bytes);

      for (const accept of [
        undefined,
        '*/*',
        MediaType.dockerManifestList,
        `${MediaType.dockerManifest}, ${MediaType.dockerManifestList}`,
      ]) {
        const got = await send(manifestUrl(repo, 'multi'), accept === undefined ? {} : { headers: { accept } });
        assert.equal(got.status, 200);
        assert.equal(got.headers.get('docker-content-digest'), list.digest, `Accept: ${accept}`);
        assert.deepEqual(got.body, list.bytes);
      }
    });

    it('an OCI manifest asked for with only Docker types in Accept is 404 MANIFEST_UNKNOWN', async () => {
      const repo = uniqueRepo('accept-oci');
      const image = await pushImage(wharf.url, repo, 'v1');
      const dockerOnly = `${MediaType.dockerManifest}, ${MediaType.dockerManifestList}`;
      for (const reference of ['v1', image.digest]) {
        assertError(
          await send(manifestUrl(repo, reference), { headers: { accept: dockerOnly } }),
          404,
          'MANIFEST_UNKNOWN',
        );
      }
      for (const accept of ['*/*', MediaType.ociManifest, `${dockerOnly}, ${MediaType.ociManifest}`]) {
        const got = await send(manifestUrl(repo, 'v1'), { headers: { accept } });
        assert.equal(got.status, 200, `Accept: ${accept}`);
        assert.deepEqual(got.body, image.bytes);
      }
      const bare = await send(manifestUrl(repo, 'v1'));
      assert.equal(bare.status, 200, 'no Accept header: served as stored');
      assert.equal(bare.headers.get('content-type'), MediaType.ociManifest);
    });

    it('an OCI index asked for with only Docker types in Accept is 404 MANIFEST_UNKNOWN', async () => {
      const repo = uniqueRepo('accept-oci-index');
      const image = await pushImage(wharf.url, repo);
      await pushManifest(
        wharf.url,
        repo,
        'idx',
        ociIndex({ manifests: [descriptorOf(MediaType.ociManifest, image.bytes)] }),
        MediaType.ociIndex,
      );
      assertError(
        await send(manifestUrl(repo, 'idx'), { headers: { accept: MediaType.dockerManifestList } }),
        404,
        'MANIFEST_UNKNOWN',
      );
      const got = await send(manifestUrl(repo, 'idx'), { headers: { accept: MediaType.ociIndex } });
      assert.equal(got.status, 200);
    });

    it('a Docker schema 2 manifest is served to an Accept that lists it among others', async () => {
      const repo = uniqueRepo('accept-docker');
      const image = await pushImage(wharf.url, repo, 'v1', { docker: true });
      const accept = `${MediaType.ociManifest}, ${MediaType.dockerManifest};q=0.9, ${MediaType.ociIndex}`;
      const got = await send(manifestUrl(repo, 'v1'), { headers: { accept } });
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('content-type'), MediaType.dockerManifest);
      assert.deepEqual(got.body, image.bytes);
    });
  });
});
