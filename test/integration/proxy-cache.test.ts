import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CountingForwarder, startCountingForwarder } from '../helpers/counting-forwarder.ts';
import { buildMultiPlatformLayout, buildRealFilesImageLayout, layoutBlobs, linuxAmd64 } from '../helpers/images.ts';
import {
  buildImage,
  errorCode,
  getManifest,
  listCatalog,
  pullAndVerify,
  pushImage,
  randomBlob,
  sha256,
} from '../helpers/push.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/** The TTL of the `fresh` route: short, so that revalidation can be watched. */
const ttlMs = 3_000;

/**
 * A namespace routed to a pull-through cache of a real registry (Debian's docker-registry, CNCF
 * Distribution 2.8), with a counting forwarder in between: what the cache asks its upstream is
 * counted request by request, and the upstream is made to rate-limit, fail and vanish.
 */
describe('pull-through cache of a route (proxy.routes)', () => {
  let upstream: ReferenceRegistry;
  let forwarder: CountingForwarder;
  let wharf: WharfProcess;
  let work: string;
  const appImage = buildImage([randomBlob(3 * 1024 * 1024), randomBlob(2048)], 'app');

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-proxy-'));
    upstream = await startReferenceRegistry();
    forwarder = await startCountingForwarder(upstream.url);
    wharf = await startWharf({
      configYaml: [
        'version: 0.1',
        'proxy:',
        '  routes:',
        '    - prefix: upstream',
        `      remoteurl: ${forwarder.url}`,
        '      ttl: 1h',
        '    - prefix: fresh',
        `      remoteurl: ${forwarder.url}`,
        `      ttl: ${ttlMs}ms`,
        '  mirror: upstream',
        '',
      ].join('\n'),
    });
    await expectCreated(pushImage(upstream.url, 'team/app', 'v1', appImage));
  });

  after(async () => {
    await wharf?.close();
    await forwarder?.close();
    await upstream?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('fetches a miss from the upstream once and serves later pulls from the cache', async () => {
    const seen = forwarder.requests.length;
    const digest = await pullAndVerify(wharf.url, 'upstream/team/app', 'v1', appImage);
    assert.equal(digest, appImage.manifest.digest);
    await waitForCatalog(wharf, 'upstream/team/app');
    const asked = forwarder.requests.slice(seen);
    assert.equal(countOf(asked, 'GET', /\/v2\/team\/app\/manifests\/v1$/), 1, 'one manifest GET');
    for (const blob of [appImage.config, ...appImage.layers]) {
      assert.equal(
        countOf(asked, 'GET', new RegExp(`/v2/team/app/blobs/${blob.digest}$`)),
        1,
        `one GET of ${blob.digest}`,
      );
    }
    assert.equal(asked.length, 4, `only those: ${JSON.stringify(asked)}`);

    const again = forwarder.requests.length;
    await pullAndVerify(wharf.url, 'upstream/team/app', 'v1', appImage);
    await pullAndVerify(wharf.url, 'upstream/team/app', appImage.manifest.digest, appImage);
    assert.deepEqual(forwarder.requests.slice(again), [], 'a pull within the TTL never reaches the upstream');
  });

  it('answers as a Docker Hub style mirror for names nothing local claims', async () => {
    const seen = forwarder.requests.length;
    // registry-mirrors sends the name without the route: it lands in the same cached repository.
    const digest = await pullAndVerify(wharf.url, 'team/app', 'v1', appImage);
    assert.equal(digest, appImage.manifest.digest);
    assert.deepEqual(forwarder.requests.slice(seen), [], 'served from what the route cached');

    // A name the registry holds is its own, even with a mirror configured.
    const local = buildImage([randomBlob(1024)], 'mirror-local');
    await expectCreated(pushImage(wharf.url, 'mine/app', 'v1', local));
    const before = forwarder.requests.length;
    assert.equal(await pullAndVerify(wharf.url, 'mine/app', 'v1', local), local.manifest.digest);
    assert.deepEqual(forwarder.requests.slice(before), [], 'a local repository is not looked up upstream');
  });

  it('copies an image out of the cache byte for byte with skopeo', async () => {
    const source = join(work, 'real-source');
    const built = await buildRealFilesImageLayout(source, 'v1');
    await skopeo(['copy', `oci:${source}:v1`, `docker://${upstream.host}/team/real:v1`]);
    const out = join(work, 'real-out');
    await skopeo(['copy', `docker://${wharf.host}/upstream/team/real:v1`, `oci:${out}:v1`]);
    const pulled = await layoutBlobs(out);
    const expected = await layoutBlobs(source);
    for (const digest of built.blobDigests) {
      const blob = pulled.get(digest);
      assert.ok(blob, `skopeo wrote ${digest}`);
      assert.equal(blob.contentDigest, digest, `the bytes of ${digest}`);
      assert.equal(blob.size, expected.get(digest)?.size);
    }
    await waitForCatalog(wharf, 'upstream/team/real');
    const seen = forwarder.requests.length;
    await skopeo(['copy', `docker://${wharf.host}/upstream/team/real:v1`, `oci:${join(work, 'real-again')}:v1`]);
    assert.deepEqual(forwarder.requests.slice(seen), [], 'the second copy is served from the cache');
  });

  it('serves a multi-platform index whole and per platform, fetching only the platforms pulled', async () => {
    const source = join(work, 'multi-source');
    const built = await buildMultiPlatformLayout(source, 'v1', [linuxAmd64, { os: 'linux', architecture: 'arm64' }]);
    await skopeo(['copy', '--all', `oci:${source}:v1`, `docker://${upstream.host}/team/multi:v1`]);

    const seen = forwarder.requests.length;
    const index = await getManifest(wharf.url, 'upstream/team/multi', 'v1');
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    assert.equal(index.headers.get('docker-content-digest'), built.index.digest);
    assert.ok(Buffer.from(await index.arrayBuffer()).equals(built.indexBytes), 'the index bytes as pushed');
    const [amd64, arm64] = built.images;
    assert.ok(amd64 && arm64);
    await pullAndVerify(wharf.url, 'upstream/team/multi', amd64.manifest.digest);
    await waitForCatalog(wharf, 'upstream/team/multi');
    const asked = forwarder.requests.slice(seen);
    assert.equal(countOf(asked, 'GET', new RegExp(`/manifests/${arm64.manifest.digest}$`)), 0, 'arm64 not fetched');
    for (const layer of arm64.layers.filter((layer) => !amd64.blobDigests.includes(layer.digest))) {
      assert.equal(countOf(asked, 'GET', new RegExp(`/blobs/${layer.digest}$`)), 0, 'arm64 layers not fetched');
    }

    const out = join(work, 'multi-out');
    await skopeo(['copy', '--all', `docker://${wharf.host}/upstream/team/multi:v1`, `oci:${out}:v1`]);
    const pulled = await layoutBlobs(out);
    for (const digest of built.blobDigests) {
      assert.equal(pulled.get(digest)?.contentDigest, digest, `skopeo --all pulled ${digest} intact`);
    }
    // A client that takes no index gets the index's OCI media type refused, as for a pushed one.
    const refused = await fetch(`${wharf.url}/v2/upstream/team/multi/manifests/v1`, {
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(refused.status, 404);
    assert.equal(await errorCode(refused), 'MANIFEST_UNKNOWN');

    // Everything is cached now: the whole index copies with the upstream unreachable.
    await forwarder.stop();
    try {
      const offline = join(work, 'multi-offline');
      await skopeo([
        'copy',
        '--all',
        `docker://${wharf.host}/upstream/team/multi@${built.index.digest}`,
        `oci:${offline}`,
      ]);
      const copied = await layoutBlobs(offline);
      for (const digest of built.blobDigests) assert.equal(copied.get(digest)?.contentDigest, digest);
    } finally {
      await forwarder.start();
    }
  });

  it('serves a tag from the cache within the TTL and follows it upstream after', async () => {
    const first = buildImage([randomBlob(4096)], 'moving-1');
    const second = buildImage([randomBlob(4096)], 'moving-2');
    await expectCreated(pushImage(upstream.url, 'team/moving', 'v1', first));
    await pullAndVerify(wharf.url, 'fresh/team/moving', 'v1', first);
    await waitForCatalog(wharf, 'fresh/team/moving');
    await expectCreated(pushImage(upstream.url, 'team/moving', 'v1', second));

    let seen = forwarder.requests.length;
    assert.equal(await manifestDigest(wharf, 'fresh/team/moving', 'v1'), first.manifest.digest, 'within the TTL');
    assert.deepEqual(forwarder.requests.slice(seen), []);

    await sleep(ttlMs + 200);
    seen = forwarder.requests.length;
    assert.equal(await pullAndVerify(wharf.url, 'fresh/team/moving', 'v1', second), second.manifest.digest);
    let asked = forwarder.requests.slice(seen);
    assert.equal(countOf(asked, 'HEAD', /\/v2\/team\/moving\/manifests\/v1$/), 1, 'the TTL ran out: one HEAD');
    assert.equal(countOf(asked, 'GET', /\/v2\/team\/moving\/manifests\/v1$/), 1, 'the tag moved: one GET');

    await sleep(ttlMs + 200);
    seen = forwarder.requests.length;
    assert.equal(await manifestDigest(wharf, 'fresh/team/moving', 'v1'), second.manifest.digest);
    asked = forwarder.requests.slice(seen);
    assert.deepEqual(
      asked.map((request) => `${request.method} ${request.url}`),
      ['HEAD /v2/team/moving/manifests/v1'],
      'an unchanged digest costs one HEAD',
    );
    seen = forwarder.requests.length;
    assert.equal(await manifestDigest(wharf, 'fresh/team/moving', 'v1'), second.manifest.digest);
    assert.deepEqual(forwarder.requests.slice(seen), [], 'and starts the TTL again');
  });

  it('fetches a blob once for ten concurrent pulls, streaming it to each as it arrives', async () => {
    const big = randomBlob(16 * 1024 * 1024);
    const image = buildImage([big], 'big');
    await expectCreated(pushImage(upstream.url, 'team/big', 'v1', image));
    const seen = forwarder.requests.length;
    // About two seconds upstream: every puller must see bytes long before the download ends.
    forwarder.bandwidth = 8 * 1024 * 1024;
    let pulls: { body: Buffer; firstByteAt: number }[];
    try {
      pulls = await Promise.all(
        Array.from({ length: 10 }, async (_, index) => {
          await sleep(index * 30);
          const response = await fetch(`${wharf.url}/v2/upstream/team/big/blobs/${big.digest}`);
          assert.equal(response.status, 200);
          assert.equal(response.headers.get('content-length'), String(big.bytes.length));
          assert.equal(response.headers.get('docker-content-digest'), big.digest);
          const chunks: Buffer[] = [];
          let firstByteAt = 0;
          for await (const chunk of response.body ?? []) {
            firstByteAt ||= performance.now();
            chunks.push(Buffer.from(chunk));
          }
          return { body: Buffer.concat(chunks), firstByteAt };
        }),
      );
    } finally {
      forwarder.bandwidth = 0;
    }
    for (const pull of pulls) assert.equal(sha256(pull.body), big.digest, 'every puller got every byte');
    const asked = forwarder.requests.slice(seen).filter((request) => request.url.endsWith(`/blobs/${big.digest}`));
    assert.deepEqual(
      asked.map((request) => request.method),
      ['GET'],
      'one upstream download',
    );
    const downloadEnded = asked[0]?.finishedAt ?? 0;
    for (const pull of pulls) {
      assert.ok(
        downloadEnded - pull.firstByteAt > 500,
        `bytes reached a puller ${Math.round(downloadEnded - pull.firstByteAt)} ms before the download ended`,
      );
    }

    // Stored now: a range is served from the registry without the upstream.
    const after = forwarder.requests.length;
    const range = await fetch(`${wharf.url}/v2/upstream/team/big/blobs/${big.digest}`, {
      headers: { range: 'bytes=100-199' },
    });
    assert.equal(range.status, 206);
    assert.ok(Buffer.from(await range.arrayBuffer()).equals(big.bytes.subarray(100, 200)));
    assert.deepEqual(forwarder.requests.slice(after), []);
  });

  it('serves the cached copy while the upstream answers 429, and 429 for what it lacks', async () => {
    const seen = forwarder.requests.length;
    await pullAndVerify(wharf.url, 'fresh/team/app', 'v1', appImage);
    await waitForCatalog(wharf, 'fresh/team/app');
    // The registry holds these blobs for upstream/team/app: linked once the upstream confirms them.
    const linking = forwarder.requests.slice(seen);
    assert.equal(countOf(linking, 'GET', /\/blobs\//), 0, 'no blob downloaded again');
    assert.equal(countOf(linking, 'HEAD', /\/v2\/team\/app\/blobs\//), 3, 'each blob confirmed upstream');
    await sleep(ttlMs + 200);
    forwarder.mode = 'throttle';
    try {
      const throttled = forwarder.requests.length;
      assert.equal(await pullAndVerify(wharf.url, 'fresh/team/app', 'v1', appImage), appImage.manifest.digest);
      assert.ok(
        countOf(forwarder.requests.slice(throttled), 'HEAD', /\/v2\/team\/app\/manifests\/v1$/) >= 1,
        'the cache asked and was refused',
      );
      const missing = await getManifest(wharf.url, 'fresh/team/app', 'v2');
      assert.equal(missing.status, 429);
      assert.equal(await errorCode(missing), 'TOOMANYREQUESTS');
      assert.equal(missing.headers.get('retry-after'), '60');
      const blob = await fetch(`${wharf.url}/v2/fresh/team/app/blobs/${randomBlob(16).digest}`);
      assert.equal(blob.status, 429);
      assert.equal(await errorCode(blob), 'TOOMANYREQUESTS');
    } finally {
      forwarder.mode = 'forward';
    }
  });

  it('serves the cached copy while the upstream is unreachable, and a clear 503 for what it lacks', async () => {
    await sleep(ttlMs + 200);
    await forwarder.stop();
    try {
      assert.equal(await pullAndVerify(wharf.url, 'fresh/team/app', 'v1', appImage), appImage.manifest.digest);
      const missing = await getManifest(wharf.url, 'fresh/team/app', 'v2');
      assert.equal(missing.status, 503);
      assert.equal(await errorCode(missing), 'UNAVAILABLE');
      const blob = await fetch(`${wharf.url}/v2/fresh/team/app/blobs/${randomBlob(16).digest}`);
      assert.equal(blob.status, 503);
      assert.equal(await errorCode(blob), 'UNAVAILABLE');
    } finally {
      await forwarder.start();
    }
  });

  it('answers MANIFEST_UNKNOWN for what neither the cache nor the upstream has', async () => {
    const missing = await getManifest(wharf.url, 'upstream/team/nothing', 'v1');
    assert.equal(missing.status, 404);
    assert.equal(await errorCode(missing), 'MANIFEST_UNKNOWN');
    const tags = await fetch(`${wharf.url}/v2/upstream/team/app/tags/list`);
    assert.equal(tags.status, 200);
    assert.deepEqual(await tags.json(), { name: 'upstream/team/app', tags: ['v1'] });
  });

  it('refuses pushes into the cache and accepts them elsewhere', async () => {
    const started = await fetch(`${wharf.url}/v2/upstream/team/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(started.status, 403);
    const body = (await started.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, 'DENIED');
    assert.match(body.errors[0]?.message ?? '', /pull-through cache .*pushes are refused/);
    const put = await fetch(`${wharf.url}/v2/upstream/team/app/manifests/v9`, {
      method: 'PUT',
      headers: { 'content-type': appImage.mediaType },
      body: appImage.manifest.bytes,
    });
    assert.equal(put.status, 403);
    assert.equal(await errorCode(put), 'DENIED');

    const local = buildImage([randomBlob(1024)], 'local');
    await expectCreated(pushImage(wharf.url, 'local/app', 'v1', local));
    assert.equal(await pullAndVerify(wharf.url, 'local/app', 'v1', local), local.manifest.digest);
  });

  it('serves the cached copy once the upstream registry is gone', async () => {
    await upstream.close();
    await sleep(ttlMs + 200);
    assert.equal(await pullAndVerify(wharf.url, 'fresh/team/app', 'v1', appImage), appImage.manifest.digest);
    const missing = await getManifest(wharf.url, 'fresh/team/app', 'v3');
    assert.ok(missing.status === 503, `status ${missing.status}`);
    assert.equal(await errorCode(missing), 'UNAVAILABLE');
    assert.doesNotMatch(
      wharf.output(),
      /err\.code=UNKNOWN|err\.status=500|FATAL/,
      'nothing failed inside the registry',
    );
  });
});

async function expectCreated(pushed: Promise<Response>): Promise<void> {
  assert.equal((await pushed).status, 201);
}

async function manifestDigest(wharf: WharfProcess, repo: string, reference: string): Promise<string | null> {
  const response = await getManifest(wharf.url, repo, reference);
  assert.equal(response.status, 200, await response.clone().text());
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(response.headers.get('docker-content-digest'), sha256(bytes));
  return response.headers.get('docker-content-digest');
}

/** A fetched image is stored once all its blobs are: the catalog lists the repository then. */
async function waitForCatalog(wharf: WharfProcess, repo: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if ((await listCatalog(wharf.url)).includes(repo)) return;
    await sleep(50);
  }
  assert.fail(`${repo} never appeared in the catalog`);
}

function countOf(requests: readonly { method: string; url: string }[], method: string, path: RegExp): number {
  return requests.filter((request) => request.method === method && path.test(request.url.split('?')[0] ?? '')).length;
}
