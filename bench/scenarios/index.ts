import { MiB, type Scenario } from '../scenario.ts';
import type { BenchSettings } from '../settings.ts';
import { blobPull } from './blob-pull.ts';
import { blobPush, type PushFlow } from './blob-push.ts';
import { chunkedPush } from './chunked-push.ts';
import { hugePush } from './huge-push.ts';
import { manifestRead } from './manifest-read.ts';
import { replicate } from './replicate.ts';
import { tagsList } from './tags-list.ts';

/** Every scenario, in the order they run. */
export function allScenarios(settings: BenchSettings): Scenario[] {
  const sizes = [
    { size: settings.smallBlob, counts: settings.blobsPerRound.small },
    { size: settings.largeBlob, counts: settings.blobsPerRound.large },
  ];
  const blobCases = sizes.flatMap(({ size, counts }) =>
    ([1, 8] as const).map((concurrency) => ({ size, concurrency, count: counts[concurrency] })),
  );
  const flows: PushFlow[] = ['monolithic', 'streamed'];
  return [
    ...flows.flatMap((flow) => blobCases.map((c) => blobPush(flow, c.size, c.concurrency, c.count))),
    chunkedPush(settings.largeBlob, settings.chunkSize),
    ...blobCases.map((c) => blobPull(c.size, c.concurrency, c.count)),
    manifestRead('HEAD', settings.manifestConcurrency, settings.loadMs),
    manifestRead('GET', settings.manifestConcurrency, settings.loadMs),
    tagsList(settings.tagCount, settings.tagsConcurrency, settings.loadMs),
    hugePush(settings.hugeBlob, 200 * MiB),
    replicate(settings.replicate),
  ];
}
