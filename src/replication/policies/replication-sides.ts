import type { ImageDestination, ImageSource } from '../image-transport.ts';

/** Where a policy reads: the remote registry of a pull policy, this registry for a push policy. */
export interface SourceSide {
  /** For messages: `docker://registry.example.com`, `local`. */
  readonly description: string;
  /** Every repository, page by page; never the whole catalog at once. */
  repositories(signal: AbortSignal): AsyncIterable<string>;
  /** The repository's tags, page by page; nothing when the repository does not exist. */
  tags(repository: string, signal: AbortSignal): AsyncIterable<string>;
  /** The digest a tag names, or undefined. */
  tagDigest(repository: string, tag: string, signal: AbortSignal): Promise<string | undefined>;
  source(repository: string): ImageSource;
}

/** Where a policy writes. */
export interface DestinationSide {
  readonly description: string;
  /** The digest a tag names there, or undefined. */
  tagDigest(repository: string, tag: string, signal: AbortSignal): Promise<string | undefined>;
  destination(repository: string): ImageDestination;
  /** Removes the manifest; false when it was not there. */
  deleteManifest(repository: string, digest: string, signal: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}
