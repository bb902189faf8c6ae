import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Blob,
  buildImage,
  getManifest,
  type Image,
  listCatalog,
  listTags,
  pullAndVerify,
  pushBlobChunked,
  pushBlobMonolithic,
  pushImage,
  pushManifest,
  randomBlob,
  sha256,
  verifyBlob,
} from '../helpers/push.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Runs against a fresh server; a timed-out test kills it, so requests still in flight fail at once. */
async function withWharf(signal: AbortSignal, run: (wharf: WharfProcess) => Promise<void>): Promise<void> {
  const wharf = await startWharf();
  const killOnAbort = () => void wharf.kill();
  signal.addEventListener('abort', killOnAbort, { once: true });
  try {
    await run(wharf);
  } catch (error) {
    console.error(`wharf output:\n${wharf.output()}`);
    throw error;
  } finally {
    signal.removeEventListener('abort', killOnAbort);
    await wharf.close();
  }
}

test('50 parallel pushes sharing layers across 5 repositories all land intact', { timeout: 60_000 }, async (t) => {
  await withWharf(t.signal, async (wharf) => {
    const sharedSizes = [64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, 768 * KiB, 1 * MiB, 1536 * KiB, 2 * MiB];
    const shared = sharedSizes.map((size) => randomBlob(size));
    const repos = [0, 1, 2, 3, 4].map((index) => `team/app-${index}`);
    // Image i goes to repo i % 5 as tag t(i / 5); with 10 images per repo, the shared picks
    // i % 8 and (i + 3) % 8 cover all 8 shared layers in every repo.
    const pushes = Array.from({ length: 50 }, (_, index) => {
      const repo = repos[index % 5]!;
      const tag = `t${Math.floor(index / 5)}`;
      const layers = [shared[index % 8]!, shared[(index + 3) % 8]!, randomBlob(16 * KiB + index * 997)];
      const image = buildImage(layers, `image-${index}`);
      return { repo, tag, image, chunkSize: index % 2 === 0 ? undefined : 256 * KiB };
    });

    const responses = await Promise.all(
      pushes.map(({ repo, tag, image, chunkSize }) =>
        pushImage(wharf.url, repo, tag, image, chunkSize === undefined ? {} : { chunkSize }),
      ),
    );
    assert.deepEqual(
      responses.map((response) => response.status),
      pushes.map(() => 201),
    );

    const expectedTags = Array.from({ length: 10 }, (_, index) => `t${index}`).sort();
    for (const repo of repos) {
      assert.deepEqual([...(await listTags(wharf.url, repo))].sort(), expectedTags, `tags of ${repo}`);
    }
    await Promise.all(pushes.map(({ repo, tag, image }) => pullAndVerify(wharf.url, repo, tag, image)));
    await Promise.all(pushes.map(({ repo, image }) => pullAndVerify(wharf.url, repo, image.manifest.digest, image)));

    assert.deepEqual([...(await listCatalog(wharf.url))].sort(), [...repos].sort());

    for (const repo of repos) {
      for (const blob of shared) {
        const response = await fetch(`${wharf.url}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
        assert.equal(response.status, 200, `HEAD ${blob.digest} in ${repo}`);
        assert.equal(response.headers.get('content-length'), String(blob.bytes.length), `Content-Length in ${repo}`);
        assert.equal(response.headers.get('docker-content-digest'), blob.digest, `Docker-Content-Digest in ${repo}`);
      }
    }
  });
});

test('the same blob uploaded by 10 clients at once commits once, with one digest', { timeout: 30_000 }, async (t) => {
  await withWharf(t.signal, async (wharf) => {
    const repo = 'team/same-blob';
    const blob = randomBlob(3 * MiB + 17);
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        index % 2 === 0 ? pushBlobMonolithic(wharf.url, repo, blob) : pushBlobChunked(wharf.url, repo, blob, 512 * KiB),
      ),
    );
    for (const response of responses) {
      assert.equal(response.status, 201);
      assert.equal(response.headers.get('docker-content-digest'), blob.digest);
    }
    const bytes = await verifyBlob(wharf.url, repo, { mediaType: '', digest: blob.digest, size: blob.bytes.length });
    assert.ok(bytes.equals(blob.bytes), 'pulled bytes are the pushed bytes');
  });
});

test('one tag pushed concurrently with 10 different manifests ends on one acknowledged manifest', {
  timeout: 30_000,
}, async (t) => {
  await withWharf(t.signal, async (wharf) => {
    const repo = 'team/race';
    const tag = 'latest';
    const layer = randomBlob(256 * KiB);
    const images: Image[] = Array.from({ length: 10 }, (_, index) =>
      buildImage([layer, randomBlob(8 * KiB + index)], `racer-${index}`),
    );
    const blobs = new Map<string, Blob>();
    for (const image of images) for (const blob of [image.config, ...image.layers]) blobs.set(blob.digest, blob);
    await Promise.all([...blobs.values()].map((blob) => pushBlobMonolithic(wharf.url, repo, blob)));

    const outcomes = await Promise.allSettled(
      images.map((image) => pushManifest(wharf.url, repo, tag, image.manifest, image.mediaType)),
    );
    const acknowledged = images.filter((_, index) => outcomes[index]?.status === 'fulfilled');
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    assert.equal(acknowledged.length, images.length, 'every concurrent manifest PUT answered 201');

    const tagged = await getManifest(wharf.url, repo, tag);
    assert.equal(tagged.status, 200);
    const taggedDigest = sha256(Buffer.from(await tagged.arrayBuffer()));
    const winner = acknowledged.find((image) => image.manifest.digest === taggedDigest);
    assert.ok(winner, `tag ${tag} points at ${taggedDigest}, which is none of the acknowledged manifests`);
    await pullAndVerify(wharf.url, repo, tag, winner);
    for (const image of acknowledged) await pullAndVerify(wharf.url, repo, image.manifest.digest, image);
    assert.deepEqual(await listTags(wharf.url, repo), [tag]);
  });
});
