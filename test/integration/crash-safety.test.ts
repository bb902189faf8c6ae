import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  absoluteLocation,
  buildImage,
  errorCode,
  expectStatus,
  getManifest,
  type Image,
  listCatalog,
  listTags,
  pullAndVerify,
  pushBlobMonolithic,
  pushImage,
  pushManifest,
  randomBlob,
  sha256,
  startUpload,
  verifyBlob,
} from '../helpers/push.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** One data directory, one server at a time; SIGKILL and restart on the same directory. */
class CrashingWharf {
  private current: WharfProcess | undefined;
  private readonly outputs: string[] = [];

  constructor(readonly dataDir: string) {}

  get url(): string {
    assert.ok(this.current, 'wharf is running');
    return this.current.url;
  }

  async start(): Promise<void> {
    this.current = await startWharf({ dataDir: this.dataDir });
  }

  async kill(): Promise<void> {
    await this.current?.kill();
    this.archiveOutput();
  }

  async stop(): Promise<void> {
    await this.current?.stop();
    this.archiveOutput();
  }

  /** What the last two server processes printed, for failure messages. */
  recentOutput(): string {
    const live = this.current ? [this.current.output()] : [];
    return [...this.outputs, ...live].slice(-2).join('\n--- restart ---\n');
  }

  private archiveOutput(): void {
    if (this.current) this.outputs.push(this.current.output());
    this.current = undefined;
  }
}

let dataDir: string;
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'wharf-crash-'));
});
after(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** A timed-out test kills the server, so requests still in flight fail at once. */
async function withCrashingWharf(
  signal: AbortSignal,
  directory: string,
  run: (wharf: CrashingWharf) => Promise<void>,
): Promise<void> {
  const wharf = new CrashingWharf(join(dataDir, directory));
  await wharf.start();
  const killOnAbort = () => void wharf.kill();
  signal.addEventListener('abort', killOnAbort, { once: true });
  try {
    await run(wharf);
  } catch (error) {
    console.error(`wharf output:\n${wharf.recentOutput()}`);
    throw error;
  } finally {
    signal.removeEventListener('abort', killOnAbort);
    await wharf.stop();
  }
}

/** The database survived: catalog and tag listing answer, and every listed tag resolves to a manifest. */
async function checkDatabaseAnswers(base: string, repo: string, expectedTags: Iterable<string>): Promise<string[]> {
  const catalog = await listCatalog(base);
  assert.ok(catalog.includes(repo), `catalog ${JSON.stringify(catalog)} lists ${repo}`);
  const tags = await listTags(base, repo);
  for (const tag of expectedTags) assert.ok(tags.includes(tag), `tag ${tag} survived the crash (tags: ${tags})`);
  for (const tag of tags) {
    const response = await getManifest(base, repo, tag);
    await expectStatus(response, 200, `listed tag ${repo}:${tag} resolves to a manifest`);
    await response.arrayBuffer();
  }
  return tags;
}

/** Rebases an upload Location handed out by a previous server process onto the current one. */
function onServer(base: string, location: string): string {
  const old = new URL(location);
  return new URL(`${old.pathname}${old.search}`, base).toString();
}

/**
 * Streams `bytes` as one chunked PATCH in 1 MiB pieces, kills the server once `killAfter` bytes
 * were handed to the socket, and returns how many bytes were written.
 */
async function streamPatchUntilKilled(
  location: string,
  bytes: Buffer,
  killAfter: number,
  kill: () => Promise<void>,
): Promise<number> {
  const request = httpRequest(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' } });
  const outcome = new Promise<string>((resolve) => {
    request.on('response', (response) => {
      response.resume();
      resolve(`HTTP ${response.statusCode}`);
    });
    request.on('error', (error) => resolve(`error ${error.message}`));
  });
  let answeredEarly: string | undefined;
  void outcome.then((result) => {
    answeredEarly ??= result;
  });
  let written = 0;
  while (written < killAfter && answeredEarly === undefined) {
    const piece = bytes.subarray(written, written + MiB);
    written += piece.length;
    if (!request.write(piece)) {
      await Promise.race([new Promise((resolve) => request.once('drain', resolve)), outcome]);
    }
    await sleep(5);
  }
  assert.equal(answeredEarly, undefined, `the server answered a PATCH still streaming: ${answeredEarly}`);
  // Let the server take in what sits in the socket buffers before it dies.
  await sleep(300);
  await kill();
  const result = await outcome;
  assert.match(result, /^error /, `the killed server must not have answered the PATCH, got ${result}`);
  request.destroy();
  return written;
}

test('SIGKILL during a streamed blob upload leaves no visible blob and a clean retry', {
  timeout: 60_000,
}, async (t) => {
  await withCrashingWharf(t.signal, 'mid-upload', async (wharf) => {
    const repo = 'crash/upload';
    const baseline = buildImage([randomBlob(64 * KiB)], 'baseline');
    await pushImage(wharf.url, repo, 'baseline', baseline);

    const blob = randomBlob(64 * MiB);
    const location = await startUpload(wharf.url, repo);
    const written = await streamPatchUntilKilled(location, blob.bytes, 16 * MiB, () => wharf.kill());
    await wharf.start();

    await checkDatabaseAnswers(wharf.url, repo, ['baseline']);
    await pullAndVerify(wharf.url, repo, 'baseline', baseline);

    const head = await fetch(`${wharf.url}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 404, 'a blob whose upload was cut off is not visible');

    const sessionUrl = onServer(wharf.url, location);
    const status = await fetch(sessionUrl);
    let durable: number | undefined;
    if (status.status === 404) {
      assert.equal(await errorCode(status), 'BLOB_UPLOAD_UNKNOWN', 'a lost upload session is BLOB_UPLOAD_UNKNOWN');
      t.diagnostic(`after the crash the upload session is unknown (${written} bytes had been sent)`);
    } else {
      await expectStatus(status, 204, 'GET status of the interrupted upload session');
      const range = status.headers.get('range') ?? '';
      const match = /^0-(\d+)$/.exec(range);
      assert.ok(match, `upload status Range header "${range}" is 0-<last byte>`);
      const last = Number(match[1]);
      // "0-0" is what registries answer for an empty session too.
      durable = last === 0 ? 0 : last + 1;
      assert.ok(durable <= written, `durable size ${durable} is at most the ${written} bytes sent`);
      t.diagnostic(`after the crash the upload session kept ${durable} of the ${written} bytes sent`);
    }

    const retried = await pushBlobMonolithic(wharf.url, repo, blob);
    assert.equal(retried.status, 201);
    const pulled = await verifyBlob(wharf.url, repo, { mediaType: '', digest: blob.digest, size: blob.bytes.length });
    assert.ok(pulled.equals(blob.bytes), 'the retried push returns exactly the pushed bytes');

    if (durable !== undefined) {
      // The session kept its bytes: resuming from the reported offset must complete the same blob.
      const patch = await fetch(sessionUrl, {
        method: 'PATCH',
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${durable}-${blob.bytes.length - 1}`,
        },
        body: blob.bytes.subarray(durable),
      });
      await expectStatus(patch, 202, `resume the interrupted upload from byte ${durable}`);
      await patch.arrayBuffer();
      const commit = new URL(absoluteLocation(wharf.url, patch));
      commit.searchParams.set('digest', blob.digest);
      const put = await fetch(commit, { method: 'PUT' });
      await expectStatus(put, 201, 'commit the resumed upload');
      assert.equal(put.headers.get('docker-content-digest'), blob.digest);
      await put.arrayBuffer();
      const again = await verifyBlob(wharf.url, repo, { mediaType: '', digest: blob.digest, size: blob.bytes.length });
      assert.equal(sha256(again), blob.digest);
    }
  });
});

/** Sends a manifest PUT with node:http; `sent` settles once the body left, `status` when answered or cut off. */
function sendManifestPut(base: string, repo: string, tag: string, image: Image) {
  const request = httpRequest(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': image.mediaType, 'content-length': String(image.manifest.bytes.length) },
  });
  const status = new Promise<number | undefined>((resolve) => {
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('error', () => resolve(undefined));
  });
  const sent = new Promise<void>((resolve) => request.end(image.manifest.bytes, () => resolve()));
  return { sent, status };
}

test('SIGKILL around a manifest PUT leaves it wholly visible or absent, 20 times', { timeout: 240_000 }, async (t) => {
  await withCrashingWharf(t.signal, 'mid-manifest', async (wharf) => {
    const repo = 'crash/manifests';
    const sharedLayer = randomBlob(512 * KiB);
    const committed = new Map<string, Image>([['base', buildImage([sharedLayer], 'base')]]);
    await pushImage(wharf.url, repo, 'base', committed.get('base')!);

    const outcomes = { acknowledged: 0, visibleUnacknowledged: 0, absent: 0 };
    for (let iteration = 0; iteration < 20; iteration++) {
      const tag = `it-${iteration}`;
      const image = buildImage([sharedLayer, randomBlob(32 * KiB + iteration)], `crash-${iteration}`);
      for (const blob of [image.config, ...image.layers]) await pushBlobMonolithic(wharf.url, repo, blob);

      // Skewed towards short delays: most kills then land while the PUT is still being processed.
      const delay = Math.floor(30 * Math.random() ** 2);
      const put = sendManifestPut(wharf.url, repo, tag, image);
      await put.sent;
      await sleep(delay);
      await wharf.kill();
      const answered = await put.status;
      const context = `iteration ${iteration}, killed ${delay} ms after the PUT was sent, answered ${answered}`;
      assert.ok(answered === undefined || answered === 201, `${context}: the PUT got no error status`);

      await wharf.start();
      const tags = await checkDatabaseAnswers(wharf.url, repo, committed.keys());
      for (const [committedTag, committedImage] of committed) {
        const response = await getManifest(wharf.url, repo, committedTag);
        await expectStatus(response, 200, `${context}: earlier tag ${committedTag}`);
        assert.equal(sha256(Buffer.from(await response.arrayBuffer())), committedImage.manifest.digest);
      }
      // Blobs were acknowledged before the PUT, so they survive whatever became of the manifest.
      for (const blob of [image.config, ...image.layers]) {
        await verifyBlob(wharf.url, repo, { mediaType: '', digest: blob.digest, size: blob.bytes.length });
      }

      const byDigest = await getManifest(wharf.url, repo, image.manifest.digest);
      const byTag = await getManifest(wharf.url, repo, tag);
      if (byDigest.status === 200) {
        await byDigest.arrayBuffer();
        await byTag.arrayBuffer();
        assert.equal(byTag.status, 200, `${context}: the manifest is visible by digest, so its tag resolves`);
        await pullAndVerify(wharf.url, repo, tag, image);
        await pullAndVerify(wharf.url, repo, image.manifest.digest, image);
        assert.ok(tags.includes(tag), `${context}: tags/list shows ${tag}`);
        if (answered === 201) outcomes.acknowledged++;
        else outcomes.visibleUnacknowledged++;
      } else {
        assert.equal(answered, undefined, `${context}: an acknowledged manifest must survive, got ${byDigest.status}`);
        assert.equal(byDigest.status, 404, `${context}: manifest by digest`);
        assert.equal(await errorCode(byDigest), 'MANIFEST_UNKNOWN', `${context}: error code by digest`);
        assert.equal(byTag.status, 404, `${context}: no manifest, so no tag either`);
        assert.equal(await errorCode(byTag), 'MANIFEST_UNKNOWN', `${context}: error code by tag`);
        assert.ok(!tags.includes(tag), `${context}: tags/list does not show ${tag}`);
        outcomes.absent++;
      }

      await pushManifest(wharf.url, repo, tag, image.manifest, image.mediaType);
      await pullAndVerify(wharf.url, repo, tag, image);
      await pullAndVerify(wharf.url, repo, image.manifest.digest, image);
      committed.set(tag, image);
    }
    assert.deepEqual([...(await listTags(wharf.url, repo))].sort(), [...committed.keys()].sort());
    t.diagnostic(`manifest PUT outcomes across the crashes: ${JSON.stringify(outcomes)}`);
  });
});
