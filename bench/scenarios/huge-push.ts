import { Blob } from '../blob-data.ts';
import { connectionPool } from '../http-client.ts';
import { RegistryClient } from '../registry-client.ts';
import { MB, type Scenario, sizeLabel } from '../scenario.ts';

/** One blob far larger than any buffer should be, streamed in a single PATCH: the figure that matters is memory. */
export function hugePush(size: number, maxWharfRss: number): Scenario {
  const repository = 'bench/huge';
  let prefixHashed = false;
  return {
    id: `push-huge-${sizeLabel(size)}`,
    title: `blob push ${sizeLabel(size)}, POST + streamed PATCH + PUT, c1`,
    unit: 'MB/s',
    target: { kind: 'max-wharf-rss', bytes: maxWharfRss },
    rounds: 1,
    async prepare(server) {
      const client = new RegistryClient(server.url, connectionPool(1));
      if (!prefixHashed) process.stderr.write(`  hashing the ${sizeLabel(size)} blob's shared prefix once\n`);
      Blob.generate(size);
      prefixHashed = true;
      return {
        async measure() {
          await client.pushStreamed(repository, Blob.generate(size));
          return { units: size / MB };
        },
      };
    },
  };
}
