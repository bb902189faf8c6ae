import { connectionPool } from '../http-client.ts';
import { RegistryClient } from '../registry-client.ts';
import { percentile, runForDuration, runTasks, type Scenario } from '../scenario.ts';
import { ociManifestType, pushSeedImage } from './seed-image.ts';

/** GET /tags/list of a repository holding `tagCount` tags, checking every answer lists them all. */
export function tagsList(tagCount: number, concurrency: number, loadMs: number): Scenario {
  const repository = 'bench/tags';
  return {
    id: `tags-list-${tagCount}`,
    title: `tags list of ${tagCount} tags, c${concurrency}`,
    unit: 'req/s',
    async prepare(server) {
      const client = new RegistryClient(server.url, connectionPool(concurrency));
      const manifest = await pushSeedImage(client, repository);
      await runTasks(tagCount, 4, (index) =>
        client.putManifest(repository, `v${String(index).padStart(4, '0')}`, manifest, ociManifestType),
      );
      const list = async () => {
        const tags = await client.listTags(repository);
        if (tags.length !== tagCount) throw new Error(`tags list: ${tags.length} tags, expected ${tagCount}`);
      };
      await runForDuration(Math.min(loadMs, 1000), concurrency, list);
      return {
        async measure() {
          const { count, latenciesMs } = await runForDuration(loadMs, concurrency, list);
          return { units: count, latencyMs: percentile(latenciesMs, 0.5) };
        },
      };
    },
  };
}
