import { Blob } from '../blob-data.ts';
import { connectionPool } from '../http-client.ts';
import { RegistryClient } from '../registry-client.ts';
import { MB, type Scenario, sizeLabel } from '../scenario.ts';

/** Pushes one blob as a sequence of PATCH requests with Content-Range, then the closing PUT. */
export function chunkedPush(size: number, chunkSize: number): Scenario {
  const repository = 'bench/chunked';
  return {
    id: `push-chunked-${sizeLabel(size)}`,
    title: `blob push ${sizeLabel(size)}, PATCH ${sizeLabel(chunkSize)} chunks with Content-Range, c1`,
    unit: 'MB/s',
    target: { kind: 'min-ratio', ratio: 1 },
    async prepare(server) {
      const client = new RegistryClient(server.url, connectionPool(1));
      Blob.generate(size);
      await client.pushChunked(repository, Blob.generate(4 * 1024), 1024);
      return {
        async measure() {
          await client.pushChunked(repository, Blob.generate(size), chunkSize);
          return { units: size / MB };
        },
      };
    },
  };
}
