import { Command } from 'commander';
import { parseImageReference } from '../replication/image-reference.ts';
import type { ImageDestination } from '../replication/image-transport.ts';
import { isDirectory, openLayoutSource } from '../replication/open-transport.ts';
import { RegistryDestination } from '../replication/registry-destination.ts';
import { ServiceDestination } from '../replication/service-destination.ts';
import { layoutItems } from '../replication/sync-items.ts';
import { RepositoryTarget } from '../replication/sync-target.ts';
import { tagFilter } from '../replication/tag-filter.ts';
import { TransportError } from '../replication/transport-error.ts';
import { loadConfigOrExit } from './load-config-or-exit.ts';
import { openLocalRegistry } from './open-local-registry.ts';
import { accessOf, addAccessOptions, addCommonAccessOptions, RegistryClients } from './registry-access.ts';
import { addCopyOptions, type CopyFlags, collect, copyOptionsOf, runCommand, TransferRun } from './transfer-run.ts';

interface ImportFlags extends CopyFlags {
  registry?: string;
  config?: string;
  prefix?: string;
  tags?: string[];
}

/** `wharf import BUNDLE`: every named image of an OCI archive or layout into a registry, running or stopped. */
export function importCommand(): Command {
  const command = new Command('import')
    .description('load every image an OCI archive (or layout directory) names into a registry, running or stopped')
    .argument(
      '<bundle>',
      'an OCI archive (from `wharf export` or `skopeo copy … oci-archive:`) or an OCI layout directory',
    )
    .option('--registry <url>', 'load into a running registry over HTTP(S), e.g. https://registry.example.com')
    .option(
      '-c, --config <file>',
      "load into the registry's own storage and database, as `wharf serve FILE` would (the default; the registry may be stopped)",
    )
    .option('--prefix <path>', 'put every repository under this path; images named by a bare tag go to this repository')
    .option('--tags <pattern>', 'only tags matching a glob or /regular expression/ (repeatable)', collect);
  addCopyOptions(command);
  addAccessOptions(command, '', 'registry');
  addCommonAccessOptions(command, { twoSided: false });
  command.addHelpText(
    'after',
    `
Each image goes to the repository and tag its index.json ref name gives (team/app:1.4 →
team/app:1.4). Every manifest and blob is verified against its digest; what the registry already
holds is skipped (with --config, a blob any repository holds is linked, not copied).

Examples:
  wharf import bundle.tar                                  # into the registry of ./config.yml / REGISTRY_*
  wharf import --config /etc/wharf/config.yml bundle.tar   # the registry may be stopped
  wharf import --registry https://registry.example.com --creds admin:secret bundle.tar

See docs/replication.md.`,
  );
  command.action(async (bundle: string, options: ImportFlags & Record<string, unknown>) => {
    await runCommand(async () => {
      if (options.registry !== undefined && options.config !== undefined) {
        throw new TransportError('usage', '--registry and --config cannot be combined');
      }
      const copyOptions = copyOptionsOf(options);
      const takeTag = tagFilter(options.tags ?? []);
      const config = options.registry === undefined ? (await loadConfigOrExit(options.config)).config : undefined;
      const transport = (await isDirectory(bundle)) ? 'oci' : 'oci-archive';
      const layout = await openLayoutSource({ transport, path: bundle, name: '' });
      const clients = new RegistryClients(accessOf(options, ''), '');
      const local = config === undefined ? undefined : await openLocalRegistry(config);
      const run = new TransferRun(copyOptions);
      try {
        const prefix = options.prefix === undefined ? '' : checkedPrefix(options.prefix);
        const open = async (repository: string): Promise<ImageDestination> => {
          if (local !== undefined) return new ServiceDestination(local.service, repository);
          return new RegistryDestination(await clients.get(options.registry as string, repository), repository);
        };
        const target = new RepositoryTarget(prefix, open);
        try {
          await run.copyAll(layoutItems(layout, takeTag), target, true);
        } finally {
          await target.close();
        }
      } finally {
        await layout.close();
        await clients.close();
        await local?.close();
      }
      run.finish();
    });
  });
  return command;
}

function checkedPrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  const parsed = parseImageReference(`docker://localhost/${trimmed}`);
  if (parsed.transport !== 'docker' || parsed.repository !== trimmed) {
    throw new TransportError('usage', `--prefix: "${prefix}" is not a repository path`);
  }
  return trimmed;
}
