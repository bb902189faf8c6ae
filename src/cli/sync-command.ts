import { Command } from 'commander';
import type { RegistryClient } from '../replication/client/index.ts';
import { type DockerReference, type ImageReference, parseImageReference } from '../replication/image-reference.ts';
import { openLayoutDestination, openLayoutSource } from '../replication/open-transport.ts';
import { RegistryDestination } from '../replication/registry-destination.ts';
import { RegistrySource } from '../replication/registry-source.ts';
import { layoutItems, type RepositorySelector, repositoryItems, type SyncItem } from '../replication/sync-items.ts';
import { LayoutTarget, RepositoryTarget, type SyncTarget } from '../replication/sync-target.ts';
import { tagFilter } from '../replication/tag-filter.ts';
import { TransportError } from '../replication/transport-error.ts';
import { accessOf, addAccessOptions, addCommonAccessOptions, RegistryClients } from './registry-access.ts';
import { addCopyOptions, type CopyFlags, collect, copyOptionsOf, runCommand, TransferRun } from './transfer-run.ts';

interface SyncFlags extends CopyFlags {
  tags?: string[];
  repository?: string[];
}

/** `wharf sync SRC DST`: every tag (or a filtered set) of repositories, like `skopeo sync`. */
export function syncCommand(): Command {
  const command = new Command('sync')
    .description('copy all tags (or those matching --tags) of one or more repositories, with their referrers')
    .argument(
      '<source>',
      'docker://REGISTRY/REPO (its tags), docker://REGISTRY/REPO:TAG, docker://REGISTRY (see --repository), oci:DIR or oci-archive:FILE (every named image)',
    )
    .argument(
      '<destination>',
      'docker://REGISTRY[/PREFIX] (repositories keep their path under PREFIX), oci:DIR or oci-archive:FILE',
    )
    .option(
      '--tags <pattern>',
      'only tags matching: a glob (`1.*`, `v?`) or a /regular expression/ (repeatable; any match is taken)',
      collect,
    )
    .option(
      '--repository <name>',
      'with a docker://REGISTRY source: a repository to sync (repeatable); the whole catalog when not given',
      collect,
    );
  addCopyOptions(command);
  addAccessOptions(command, 'src-', 'source');
  addAccessOptions(command, 'dest-', 'destination');
  addCommonAccessOptions(command, { twoSided: true });
  command.addHelpText(
    'after',
    `
Images already at the destination are skipped with one request each, so a sync can be run again
and again (from cron) and only moves what changed; a sync that failed picks up where it stopped.

Examples:
  wharf sync docker://registry.example.com/team/app docker://mirror.example.com
  wharf sync --tags '1.*' --tags '/^latest$/' docker://docker.io/library/nginx docker://127.0.0.1:5000/hub
  wharf sync --repository team/app --repository team/web docker://registry.example.com oci:./mirror

See docs/replication.md.`,
  );
  command.action(async (sourceText: string, destinationText: string, options: SyncFlags & Record<string, unknown>) => {
    await runCommand(async () => {
      const copyOptions = copyOptionsOf(options);
      const takeTag = tagFilter(options.tags ?? []);
      const source = parseImageReference(sourceText, { repositoryOptional: true });
      const destination = parseImageReference(destinationText, { repositoryOptional: true });
      if (destination.transport === 'docker' && (destination.tag !== undefined || destination.digest !== undefined)) {
        throw new TransportError('usage', 'a sync destination is a registry and repository prefix, without a tag');
      }
      if (options.repository !== undefined && (source.transport !== 'docker' || source.repository !== '')) {
        throw new TransportError('usage', '--repository goes with a docker://REGISTRY source that names no repository');
      }
      const sourceClients = new RegistryClients(accessOf(options, 'src-'), 'src-');
      const destinationClients = new RegistryClients(accessOf(options, 'dest-'), 'dest-');
      const run = new TransferRun(copyOptions);
      const closers: (() => Promise<void>)[] = [];
      try {
        const items = await syncItems(source, sourceClients, takeTag, options.repository, closers);
        const target = await syncTarget(destination, destinationClients, copyOptions.dryRun);
        closers.push(() => target.close());
        await run.copyAll(items, target, destination.transport !== 'oci-archive');
      } finally {
        for (const close of closers.reverse()) await close().catch(() => {});
        await sourceClients.close();
        await destinationClients.close();
      }
      run.finish();
    });
  });
  return command;
}

async function syncItems(
  source: ImageReference,
  clients: RegistryClients,
  takeTag: (tag: string) => boolean,
  repositories: string[] | undefined,
  closers: (() => Promise<void>)[],
): Promise<AsyncIterable<SyncItem>> {
  if (source.transport !== 'docker') {
    const layout = await openLayoutSource(source);
    closers.push(() => layout.close());
    return layoutItems(layout, takeTag);
  }
  const client = await clients.get(source.registry, source.repository || undefined);
  const open = async (repository: string) => new RegistrySource(client, repository);
  return repositoryItems(selectorsOf(source, client, repositories), open, takeTag);
}

function selectorsOf(
  source: DockerReference,
  client: RegistryClient,
  repositories: string[] | undefined,
): AsyncIterable<RepositorySelector> | Iterable<RepositorySelector> {
  const reference = source.digest ?? source.tag;
  if (source.repository !== '') {
    return [reference === undefined ? { repository: source.repository } : { repository: source.repository, reference }];
  }
  if (repositories !== undefined) return repositories.map((repository) => ({ repository }));
  return (async function* () {
    for await (const repository of client.repositories({ pageSize: 1000 })) yield { repository };
  })();
}

async function syncTarget(destination: ImageReference, clients: RegistryClients, dryRun: boolean): Promise<SyncTarget> {
  if (destination.transport !== 'docker') {
    return new LayoutTarget(await openLayoutDestination(destination, { dryRun }));
  }
  const client = await clients.get(destination.registry, destination.repository || undefined);
  return new RepositoryTarget(
    destination.repository,
    async (repository) => new RegistryDestination(client, repository),
  );
}
