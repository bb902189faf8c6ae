import { connectionPool } from '../http-client.ts';
import { RegistryClient } from '../registry-client.ts';
import { runForDuration, type Scenario } from '../scenario.ts';
import { manifestAccept, ociManifestType, pushSeedImage } from './seed-image.ts';

/** HEAD or GET of one manifest by tag, `concurrency` requests in flight over keep-alive connections. */
export function manifestRead(method: 'HEAD' | 'GET', concurrency: number, loadMs: number): Scenario {
  const repository = 'bench/manifests';
  const tag = 'latest';
  return {
    id: `manifest-${method.toLowerCase()}-c${concurrency}`,
    title: `manifest ${method} by tag, c${concurrency}`,
    unit: 'req/s',
    target: { kind: 'min-ratio', ratio: 1.5 },
    async prepare(server) {
      const client = new RegistryClient(server.url, connectionPool(concurrency));
      const manifest = await pushSeedImage(client, repository);
      await client.putManifest(repository, tag, manifest, ociManifestType);
      const read = async () => {
        const size = await client.readManifest(method, repository, tag, manifestAccept);
        if (size !== manifest.length) throw new Error(`${method} manifest: ${size} bytes, expected ${manifest.length}`);
      };
      await runForDuration(Math.min(loadMs, 1000), concurrency, read);
      return {
        async measure() {
          const { count } = await runForDuration(loadMs, concurrency, read);
          return { units: count };
        },
      };
    },
  };
}
