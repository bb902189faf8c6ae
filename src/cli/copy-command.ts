import { Command } from 'commander';
import { type ImageReference, parseImageReference } from '../replication/image-reference.ts';
import { openDestination, openSource, sourceReferenceOf } from '../replication/open-transport.ts';
import { TransportError } from '../replication/transport-error.ts';
import { accessOf, addAccessOptions, addCommonAccessOptions, RegistryClients } from './registry-access.ts';
import { addCopyOptions, type CopyFlags, copyOptionsOf, runCommand, TransferRun, tagOf } from './transfer-run.ts';

/** `wharf copy SRC DST`: one image, like `skopeo copy --all`, with its referrers. */
export function copyCommand(): Command {
  const command = new Command('copy')
    .description(
      'copy an image (a whole multi-platform index by default) with its signatures and SBOMs between registries, OCI layouts and OCI archives',
    )
    .argument('<source>', 'docker://REGISTRY/REPO[:TAG|@DIGEST], oci:DIR[:NAME] or oci-archive:FILE[:NAME]')
    .argument('<destination>', 'docker://REGISTRY/REPO[:TAG], oci:DIR[:NAME] or oci-archive:FILE[:NAME]');
  addCopyOptions(command);
  addAccessOptions(command, 'src-', 'source');
  addAccessOptions(command, 'dest-', 'destination');
  addCommonAccessOptions(command, { twoSided: true });
  command.addHelpText(
    'after',
    `
Blobs and manifests the destination already has are skipped, so running the same copy again after
a failure picks up where it stopped. Without a tag the destination takes the source's tag.

Examples:
  wharf copy docker://registry.example.com/team/app:1.4 docker://mirror.example.com/team/app:1.4
  wharf copy --platform linux/arm64 docker://docker.io/library/alpine:3.20 oci:./alpine:3.20
  wharf copy --dest-tls-verify=false oci-archive:app.tar docker://127.0.0.1:5000/team/app:1.4

See docs/replication.md.`,
  );
  command.action(async (sourceText: string, destinationText: string, options: CopyFlags & Record<string, unknown>) => {
    await runCommand(async () => {
      const copyOptions = copyOptionsOf(options);
      const sourceReference = parseImageReference(sourceText);
      const destinationReference = parseImageReference(destinationText);
      const destinationTag = destinationName(destinationReference, sourceReferenceOf(sourceReference));
      const sourceClients = new RegistryClients(accessOf(options, 'src-'), 'src-');
      const destinationClients = new RegistryClients(accessOf(options, 'dest-'), 'dest-');
      try {
        const { source, reference } = await openSource(sourceReference, (registry, repository) =>
          sourceClients.get(registry, repository),
        );
        const destination = await openDestination(
          destinationReference,
          (registry, repository) => destinationClients.get(registry, repository),
          { dryRun: copyOptions.dryRun },
        );
        const run = new TransferRun(copyOptions);
        try {
          await run.attempt(`${sourceText} → ${destinationText}`, async () => {
            await run.engine.copy({
              source,
              reference,
              destination,
              destinationReference: destinationTag,
            });
            if (!copyOptions.dryRun) await destination.commit();
          });
        } finally {
          await destination.close();
          await source.close();
        }
        run.finish();
      } finally {
        await sourceClients.close();
        await destinationClients.close();
      }
    });
  });
  return command;
}

/** The destination's tag (ref name): as given, else the source's tag, else none (by digest only). */
function destinationName(destination: ImageReference, sourceReference: string): string | undefined {
  if (destination.transport === 'docker') {
    if (destination.digest !== undefined) {
      throw new TransportError('usage', 'a destination is named by a tag, not a digest (its digest is what it is)');
    }
    return destination.tag ?? tagOf(sourceReference);
  }
  return destination.name !== '' ? destination.name : tagOf(sourceReference);
}
