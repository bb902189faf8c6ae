import { Blob } from '../blob-data.ts';
import { connectionPool } from '../http-client.ts';
import { RegistryClient } from '../registry-client.ts';
import { MB, runTasks, type Scenario, sizeLabel } from '../scenario.ts';

/** Pulls `blobsPerRound` blobs of `size` bytes, `concurrency` at a time, from a few blobs pushed beforehand. */
export function blobPull(size: number, concurrency: number, blobsPerRound: number): Scenario {
  const repository = 'bench/pull';
  return {
    id: `pull-${sizeLabel(size)}-c${concurrency}`,
    title: `blob pull ${sizeLabel(size)}, GET streamed and discarded, c${concurrency}`,
    unit: 'MB/s',
    target: { kind: 'min-ratio', ratio: 1 },
    async prepare(server) {
      const client = new RegistryClient(server.url, connectionPool(concurrency));
      const blobs = Array.from({ length: Math.min(blobsPerRound, 32) }, () => Blob.generate(size));
      await runTasks(blobs.length, Math.min(concurrency, 4), (index) =>
        client.pushMonolithic(repository, blobs[index]!),
      );
      await runTasks(blobs.length, concurrency, (index) => client.pullBlob(repository, blobs[index]!));
      return {
        async measure() {
          await runTasks(blobsPerRound, concurrency, (index) =>
            client.pullBlob(repository, blobs[index % blobs.length]!),
          );
          return { units: (blobsPerRound * size) / MB };
        },
      };
    },
  };
}
