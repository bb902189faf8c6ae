import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/manifest.ts';
import type { ManifestContent } from './client/index.ts';

/** A repository of a registry, as far as a cross-repository mount needs to know it. */
export interface RegistryLocation {
  /** The registry's canonical name (RegistryClient.registry). */
  registry: string;
  repository: string;
}

/**
 * Where images are read from: a repository of a registry (over HTTP, or through the local
 * RegistryService), an OCI image layout directory, an OCI archive. Every byte handed out is
 * verified against its digest.
 */
export interface ImageSource {
  /** For messages: `docker://registry.example.com/team/app`, `oci:/srv/layout`. */
  readonly description: string;
  /** Set when the source is a registry repository whose blobs a destination on the same registry can mount. */
  readonly location?: RegistryLocation;
  /** The manifest a tag (a ref name in a layout) or digest names. */
  getManifest(reference: string): Promise<ManifestContent>;
  /** The blob's bytes; the stream fails rather than ends when they do not match the descriptor. */
  openBlob(descriptor: Descriptor): Promise<Readable>;
  /** The manifests whose `subject` is `digest`. */
  referrers(subject: Digest): Promise<Descriptor[]>;
  close(): Promise<void>;
}

/**
 * Where images are written to. A destination that holds a blob or manifest says so, and the copy
 * skips it; writes become visible only once verified. Layout and archive destinations take a ref
 * name as the reference; a registry repository takes a tag.
 */
export interface ImageDestination {
  readonly description: string;
  hasManifest(digest: Digest): Promise<boolean>;
  /** The digest a tag or ref name points at now, undefined when it names nothing. */
  resolveReference(reference: string): Promise<Digest | undefined>;
  hasBlob(descriptor: Descriptor): Promise<boolean>;
  /**
   * Links a blob the registry already holds elsewhere (in `from`, the source's repository when it
   * is on the same registry) without a transfer; false when it cannot.
   */
  mountBlob(descriptor: Descriptor, from: RegistryLocation | undefined): Promise<boolean>;
  /** Writes a blob; `open` is called when the destination is ready to take the bytes. */
  putBlob(descriptor: Descriptor, open: () => Promise<Readable>): Promise<void>;
  /** Stores manifest bytes as they are, under `reference` (a tag or ref name) or only by digest. */
  putManifest(manifest: ManifestContent, reference: string | undefined): Promise<void>;
  /** Makes what was written complete (a layout's index.json, an archive's last entries). */
  commit(): Promise<void>;
  /** Releases resources; a destination that was not committed removes what it half wrote. */
  close(): Promise<void>;
}
