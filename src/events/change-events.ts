import type { MetadataChange } from '../metadata/metadata-changes.ts';
import { projectOf, type RegistryEvent } from './event.ts';
import type { EventFactory } from './event-factory.ts';

/** Distribution names an uploaded layer's type so; a blob's own media type is not known to the registry. */
export const blobMediaType = 'application/octet-stream';

/**
 * The events a committed metadata change stands for: a manifest push (and the tag it created or
 * moved), a tag or manifest deletion (with the tags that went with it), a blob upload, mount or
 * unlink, a repository deletion.
 */
export function eventsOfChange(change: MetadataChange, factory: EventFactory): RegistryEvent[] {
  const repository = change.repository;
  const project = projectOf(repository);
  switch (change.type) {
    case 'blob.committed':
    case 'blob.mounted':
      return [
        factory.create({
          action: change.type === 'blob.committed' ? 'blob.pushed' : 'blob.mounted',
          target: {
            project,
            repository,
            digest: change.digest,
            mediaType: blobMediaType,
            size: change.size,
            url: factory.contentUrl('blobs', repository, change.digest),
          },
        }),
      ];
    case 'blob.unlinked':
      return [factory.create({ action: 'blob.deleted', target: { project, repository, digest: change.digest } })];
    case 'manifest.stored': {
      const content = {
        project,
        repository,
        digest: change.digest,
        mediaType: change.mediaType,
        size: change.size,
        url: factory.contentUrl('manifests', repository, change.digest),
      };
      const tag = change.tag;
      const events = [factory.create({ action: 'manifest.pushed', target: { ...content, tag: tag?.name } })];
      if (tag !== undefined && tag.previousDigest === undefined) {
        events.push(factory.create({ action: 'tag.created', target: { ...content, tag: tag.name } }));
      } else if (tag !== undefined && tag.previousDigest !== change.digest) {
        events.push(
          factory.create({
            action: 'tag.moved',
            target: { ...content, tag: tag.name, previousDigest: tag.previousDigest },
          }),
        );
      }
      return events;
    }
    case 'tag.deleted':
      return [
        factory.create({
          action: 'tag.deleted',
          target: { project, repository, tag: change.tag, digest: change.digest },
        }),
      ];
    case 'manifest.deleted':
      return [
        factory.create({
          action: 'manifest.deleted',
          target: {
            project,
            repository,
            digest: change.digest,
            mediaType: change.mediaType,
            size: change.size,
            tags: [...change.tags],
          },
        }),
        ...change.tags.map((tag) =>
          factory.create({ action: 'tag.deleted', target: { project, repository, tag, digest: change.digest } }),
        ),
      ];
    case 'repository.deleted':
      return [factory.create({ action: 'repository.deleted', target: { project, repository } })];
  }
}
