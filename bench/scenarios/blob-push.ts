import { Blob } from '../blob-data.ts';
import { connectionPool } from '../http-client.ts';
import { RegistryClient } from '../registry-client.ts';
import { MB, runTasks, type Scenario, sizeLabel } from '../scenario.ts';

export type PushFlow = 'monolithic' | 'streamed';

const flowTitles: Record<PushFlow, string> = {
  monolithic: 'POST + PUT?digest with the body',
  streamed: 'POST + streamed PATCH + PUT (docker)',
};

/** Pushes `blobsPerRound` fresh blobs of `size` bytes, `concurrency` at a time. */
export function blobPush(flow: PushFlow, size: number, concurrency: number, blobsPerRound: number): Scenario {
  const repository = 'bench/push';
  return {
    id: `push-${flow}-${sizeLabel(size)}-c${concurrency}`,
    title: `blob push ${sizeLabel(size)}, ${flowTitles[flow]}, c${concurrency}`,
    unit: 'MB/s',
    target: { kind: 'min-ratio', ratio: 1 },
    async prepare(server) {
      const client = new RegistryClient(server.url, connectionPool(concurrency));
      const push = (blob: Blob) =>
        flow === 'monolithic' ? client.pushMonolithic(repository, blob) : client.pushStreamed(repository, blob);
      Blob.generate(size); // hashes the shared prefix of this size once, outside the timed rounds
      await runTasks(concurrency * 2, concurrency, () => push(Blob.generate(Math.min(size, 64 * 1024))));
      return {
        async measure() {
          const blobs = Array.from({ length: blobsPerRound }, () => Blob.generate(size));
          await runTasks(blobs.length, concurrency, (index) => push(blobs[index]!));
          return { units: (blobsPerRound * size) / MB };
        },
      };
    },
  };
}
