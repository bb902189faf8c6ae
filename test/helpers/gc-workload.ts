import assert from 'node:assert/strict';
import type test from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Blob, buildImage, errorCode, type Image, pullAndVerify, randomBlob } from './push.ts';
import type { WharfProcess } from './wharf.ts';

/**
 * Garbage collection running continuously (review delay 0) while 20 clients push images that share
 * layers, then delete or retag them. A client keeps only its first image and its latest one, and
 * each latest image uses one of many "volatile" layers, so those keep losing their last reference
 * and being collected while other clients push images that use them: most clients skip a layer
 * that a HEAD finds (so their manifest PUT races the collection of a blob they did not upload), a
 * few upload every layer (so their upload races the deletion of the same digest). Every push the
 * registry acknowledged and the client did not delete must pull back byte for byte; a push may be
 * refused, but only with an error that a client retries.
 *
 * Every event's review is due at once except an upload's, which gets two seconds: the time a client
 * has between pushing a blob and pushing the manifest that references it. With no time at all, the
 * config blob of every new image would be collected before its manifest arrives.
 */

const KiB = 1024;
const clients = 20;
const rounds = 4;

export const gcEnv = {
  REGISTRY_GC_REVIEWAFTER: '0s',
  REGISTRY_GC_EVENTREVIEWAFTER_BLOBUPLOAD: '2s',
  REGISTRY_GC_INTERVAL: '20ms',
  REGISTRY_GC_WORKERS: '2',
  REGISTRY_GC_DELETEUNTAGGED: 'true',
};

/** Refusals a client retries: a reference or an upload that collection took away meanwhile. */
const retryable = new Set(['400 MANIFEST_BLOB_UNKNOWN', '503 UNAVAILABLE', '404 BLOB_UPLOAD_UNKNOWN']);

export interface Workload {
  /** `repo:tag` → the image it must pull as. */
  expected: Map<string, { repo: string; tag: string; image: Image }>;
  acknowledged: number;
  refusals: Map<string, number>;
  /** Volatile layers a HEAD found gone after an image with them had been acknowledged. */
  collectedInUse: Set<string>;
}

/** One request each to a randomly chosen instance, as a load balancer would spread them. */
function pick(bases: readonly string[]): string {
  return bases[Math.floor(Math.random() * bases.length)]!;
}

async function refusal(response: Response): Promise<string> {
  return `${response.status} ${(await errorCode(response)) ?? 'no-error-body'}`;
}

/** Pushes the blobs in parallel (optionally skipping those a HEAD finds), then the manifest; returns the refusal, if any. */
async function tryPush(
  bases: readonly string[],
  repo: string,
  tag: string,
  image: Image,
  headFirst: boolean,
  onMissing: (digest: string) => void = () => {},
): Promise<string | undefined> {
  const failures = await Promise.all(
    [image.config, ...image.layers].map(async (blob) => {
      if (headFirst) {
        const head = await fetch(`${pick(bases)}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
        if (head.status === 200) return undefined;
        onMissing(blob.digest);
      }
      return uploadBlob(bases, repo, blob);
    }),
  );
  const failure = failures.find((entry) => entry !== undefined);
  if (failure !== undefined) return failure;
  const response = await fetch(`${pick(bases)}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': image.mediaType },
    body: image.manifest.bytes,
  });
  if (response.status !== 201) return refusal(response);
  await response.arrayBuffer();
  return undefined;
}

async function uploadBlob(bases: readonly string[], repo: string, blob: Blob): Promise<string | undefined> {
  const start = await fetch(`${pick(bases)}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) return refusal(start);
  await start.arrayBuffer();
  const location = new URL(start.headers.get('location') ?? '', pick(bases));
  location.searchParams.set('digest', blob.digest);
  const put = await fetch(`${pick(bases)}${location.pathname}${location.search}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: blob.bytes,
  });
  if (put.status !== 201) return refusal(put);
  await put.arrayBuffer();
  return undefined;
}

async function deleteManifest(bases: readonly string[], repo: string, reference: string): Promise<void> {
  const response = await fetch(`${pick(bases)}/v2/${repo}/manifests/${reference}`, { method: 'DELETE' });
  assert.equal(response.status, 202, `DELETE ${repo}:${reference}`);
  await response.arrayBuffer();
}

export async function runWorkload(bases: readonly string[]): Promise<Workload> {
  const shared = Array.from({ length: 4 }, (_, index) => randomBlob(24 * KiB + index * 1013));
  const volatile = Array.from({ length: 24 }, (_, index) => randomBlob(8 * KiB + index * 517));
  const workload: Workload = { expected: new Map(), acknowledged: 0, refusals: new Map(), collectedInUse: new Set() };
  const acknowledgedVolatile = new Set<string>();
  const volatileDigests = new Set(volatile.map((blob) => blob.digest));
  const onMissing = (digest: string) => {
    if (acknowledgedVolatile.has(digest)) workload.collectedInUse.add(digest);
  };

  const pushWithRetries = async (repo: string, tag: string, image: Image, headFirst: boolean) => {
    let lastFailure = '';
    for (let attempt = 1; attempt <= 30; attempt++) {
      const failure = await tryPush(bases, repo, tag, image, headFirst, onMissing);
      if (failure === undefined) {
        workload.acknowledged++;
        workload.expected.set(`${repo}:${tag}`, { repo, tag, image });
        for (const layer of image.layers) if (volatileDigests.has(layer.digest)) acknowledgedVolatile.add(layer.digest);
        return;
      }
      assert.ok(retryable.has(failure), `push of ${repo}:${tag} refused with ${failure}, which is not retryable`);
      lastFailure = failure;
      workload.refusals.set(failure, (workload.refusals.get(failure) ?? 0) + 1);
      await sleep(20 + Math.random() * 80);
    }
    assert.fail(`${repo}:${tag} was refused 30 times in a row, last with ${lastFailure}`);
  };

  const client = async (index: number) => {
    const repo = `gc/app-${index % 4}`;
    const headFirst = index % 4 !== 1;
    let latest: Image | undefined;
    for (let round = 0; round < rounds; round++) {
      const layers = [shared[(index + round) % shared.length]!];
      // The first image, kept to the end, holds no volatile layer.
      if (round > 0) layers.push(volatile[(index * 7 + round * 5) % volatile.length]!);
      const image = buildImage([...layers, randomBlob(4 * KiB + index * 97 + round)], `client-${index}-${round}`);
      await pushWithRetries(repo, `c${index}-t${round}`, image, headFirst);
      // Only the first and the latest image stay: the one before goes, by tag or by digest.
      if (round >= 2 && latest !== undefined) {
        await deleteManifest(bases, repo, round % 2 === 0 ? `c${index}-t${round - 1}` : latest.manifest.digest);
        workload.expected.delete(`${repo}:c${index}-t${round - 1}`);
      }
      latest = image;
      await sleep(Math.random() * 200);
    }
    // Moving the first tag leaves the first image untagged, for gc.deleteuntagged to collect.
    if (latest !== undefined) await pushWithRetries(repo, `c${index}-t0`, latest, headFirst);
  };

  await Promise.all(Array.from({ length: clients }, (_, index) => client(index)));
  return workload;
}

export async function gcCounter(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? 0);
}

export async function verifyAll(bases: readonly string[], workload: Workload): Promise<void> {
  // Give the collector time to take whatever the last pushes and deletes queued.
  await sleep(1500);
  for (const { repo, tag, image } of workload.expected.values()) {
    for (const base of bases) {
      await pullAndVerify(base, repo, tag, image);
      await pullAndVerify(base, repo, image.manifest.digest, image);
    }
  }
}

export function report(t: test.TestContext, workload: Workload, deleted: { blobs: number; manifests: number }): void {
  t.diagnostic(
    `acknowledged ${workload.acknowledged} pushes, ${workload.expected.size} images kept; collected ${deleted.blobs} blobs and ${deleted.manifests} manifests, ${workload.collectedInUse.size} volatile layers while clients used them; refusals: ${JSON.stringify(Object.fromEntries(workload.refusals))}`,
  );
  // The race must have happened for the test to mean anything.
  assert.ok(
    workload.collectedInUse.size > 0,
    'some shared layer was collected while clients were pushing images with it',
  );
}

export async function withOutput<T>(servers: WharfProcess[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    for (const server of servers) console.error(`wharf ${server.url} output:\n${server.output().slice(-20_000)}`);
    throw error;
  }
}
