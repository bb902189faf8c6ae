import { Command } from 'commander';
import { openLayoutDestination } from '../replication/open-transport.ts';
import { RegistrySource } from '../replication/registry-source.ts';
import { ServiceSource } from '../replication/service-source.ts';
import { parseRepositorySelector, repositoryItems, type TaggedSource } from '../replication/sync-items.ts';
import { LayoutTarget } from '../replication/sync-target.ts';
import { tagFilter } from '../replication/tag-filter.ts';
import { TransportError } from '../replication/transport-error.ts';
import { onInterrupt } from './interrupt-cleanup.ts';
import { loadConfigOrExit } from './load-config-or-exit.ts';
import { openLocalRegistry } from './open-local-registry.ts';
import { accessOf, addAccessOptions, addCommonAccessOptions, RegistryClients } from './registry-access.ts';
import { addCopyOptions, type CopyFlags, collect, copyOptionsOf, runCommand, TransferRun } from './transfer-run.ts';

interface ExportFlags extends CopyFlags {
  output: string;
  registry?: string;
  config?: string;
  tags?: string[];
}

/** `wharf export`: repositories and tags, with their referrers, as one OCI archive for an air-gapped site. */
export function exportCommand(): Command {
  const command = new Command('export')
    .description('write repositories or tags, with their signatures and SBOMs, into one OCI image layout tarball')
    .argument('<images...>', 'REPOSITORY (every tag), REPOSITORY:TAG or REPOSITORY@DIGEST')
    .requiredOption('-o, --output <file>', 'the bundle to write (an OCI archive; replaced when it exists)')
    .option('--registry <url>', 'read from a running registry over HTTP(S), e.g. https://registry.example.com')
    .option(
      '-c, --config <file>',
      "read the registry's own storage and database, as `wharf serve FILE` would (the default)",
    )
    .option(
      '--tags <pattern>',
      'for whole repositories, only tags matching a glob or /regular expression/ (repeatable)',
      collect,
    );
  addCopyOptions(command);
  addAccessOptions(command, '', 'registry');
  addCommonAccessOptions(command, { twoSided: false });
  command.addHelpText(
    'after',
    `
index.json names every image REPOSITORY:TAG (org.opencontainers.image.ref.name), so the bundle
loads with \`wharf import\` and with skopeo: skopeo copy oci-archive:bundle.tar:team/app:1.4 docker://…

Examples:
  wharf export --output bundle.tar team/app:1.4 team/web
  wharf export --registry https://registry.example.com --creds ci:secret -o bundle.tar team/app --tags '1.*'

See docs/replication.md.`,
  );
  command.action(async (images: string[], options: ExportFlags & Record<string, unknown>) => {
    await runCommand(async () => {
      if (options.registry !== undefined && options.config !== undefined) {
        throw new TransportError('usage', '--registry and --config cannot be combined');
      }
      const copyOptions = copyOptionsOf(options);
      const selectors = images.map(parseRepositorySelector);
      const takeTag = tagFilter(options.tags ?? []);
      const config = options.registry === undefined ? (await loadConfigOrExit(options.config)).config : undefined;
      const clients = new RegistryClients(accessOf(options, ''), '');
      const local = config === undefined ? undefined : await openLocalRegistry(config);
      const run = new TransferRun(copyOptions);
      try {
        const open = async (repository: string): Promise<TaggedSource> => {
          if (local !== undefined) return new ServiceSource(local.service, repository);
          return new RegistrySource(await clients.get(options.registry as string, repository), repository);
        };
        const target = new LayoutTarget(
          await openLayoutDestination({ transport: 'oci-archive', path: options.output, name: '' }, copyOptions),
        );
        // The archive is written under a temporary name; an interrupted export removes it (there is no resume).
        const stopHandling = onInterrupt('export', () => target.close());
        try {
          await run.copyAll(repositoryItems(selectors, open, takeTag), target, false);
        } finally {
          stopHandling();
          await target.close();
        }
      } finally {
        await clients.close();
        await local?.close();
      }
      run.finish();
      if (!copyOptions.dryRun && run.failures.length === 0) process.stdout.write(`wrote ${options.output}\n`);
    });
  });
  return command;
}
