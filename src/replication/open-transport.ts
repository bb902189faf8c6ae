import { stat } from 'node:fs/promises';
import { ArchiveDestination } from './archive-destination.ts';
import { ArchiveFiles } from './archive-files.ts';
import type { RegistryClient } from './client/index.ts';
import { EmptyDestination } from './empty-destination.ts';
import type { ImageReference, LayoutReference } from './image-reference.ts';
import type { ImageDestination, ImageSource } from './image-transport.ts';
import { LayoutDestination } from './layout-destination.ts';
import { DirectoryFiles } from './layout-files.ts';
import { LayoutSource } from './layout-source.ts';
import { RegistryDestination } from './registry-destination.ts';
import { RegistrySource } from './registry-source.ts';

/** Gives the registry client for a registry named in a reference (one per registry, shared). */
export type ClientProvider = (registry: string, repository: string) => Promise<RegistryClient>;

/** A source opened from a reference, and the tag, ref name or digest to read from it. */
export interface OpenedSource {
  source: ImageSource;
  /** `latest` for a docker reference without tag or digest; '' for a layout without a name. */
  reference: string;
}

export async function openSource(reference: ImageReference, clients: ClientProvider): Promise<OpenedSource> {
  if (reference.transport === 'docker') {
    const client = await clients(reference.registry, reference.repository);
    return { source: new RegistrySource(client, reference.repository), reference: sourceReferenceOf(reference) };
  }
  return { source: await openLayoutSource(reference), reference: sourceReferenceOf(reference) };
}

/** What to read from a source reference: its digest or tag (`latest` when none), or a layout's name. */
export function sourceReferenceOf(reference: ImageReference): string {
  if (reference.transport === 'docker') return reference.digest ?? reference.tag ?? 'latest';
  return reference.name;
}

export async function openLayoutSource(reference: LayoutReference): Promise<LayoutSource> {
  const files =
    reference.transport === 'oci' ? new DirectoryFiles(reference.path) : await ArchiveFiles.open(reference.path);
  return new LayoutSource(files, reference.transport);
}

/**
 * The destination a reference names. An archive is created (replacing a file of that name when
 * committed); a layout directory is created or added to. In a dry run nothing is created.
 */
export async function openDestination(
  reference: ImageReference,
  clients: ClientProvider,
  options: { dryRun?: boolean } = {},
): Promise<ImageDestination> {
  if (reference.transport === 'docker') {
    return new RegistryDestination(await clients(reference.registry, reference.repository), reference.repository);
  }
  return openLayoutDestination(reference, options);
}

export async function openLayoutDestination(
  reference: LayoutReference,
  options: { dryRun?: boolean } = {},
): Promise<ImageDestination> {
  if (reference.transport === 'oci') return LayoutDestination.open(reference.path, options);
  if (options.dryRun) return new EmptyDestination(`oci-archive:${reference.path}`);
  return ArchiveDestination.create(reference.path);
}

/** Whether a path is a directory (an `oci:` layout) rather than a file (an archive). */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
