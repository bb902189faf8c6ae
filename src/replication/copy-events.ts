import type { Digest } from '../oci/digest.ts';

/** What became of a blob or manifest: transferred, already there, linked on the registry, or (dry run) to be copied. */
export type CopyOutcome = 'copied' | 'skipped' | 'mounted' | 'would-copy';

/** One image (a tag or digest, whole index and referrers) being copied. */
export interface ImageCopy {
  source: string;
  reference: string;
  destination: string;
  destinationReference: string | undefined;
}

/** What the copy engine reports as it goes; a progress display or a log listens. */
export type CopyEvent =
  | { type: 'image-start'; image: ImageCopy }
  | { type: 'image-done'; image: ImageCopy; digest: Digest; note?: string }
  | { type: 'image-failed'; image: ImageCopy; error: unknown }
  | { type: 'blob-start'; digest: Digest; size: number; mediaType: string }
  | { type: 'blob-progress'; digest: Digest; transferred: number; size: number }
  | { type: 'blob-retry'; digest: Digest; attempt: number; error: unknown }
  | { type: 'blob-done'; digest: Digest; size: number; outcome: CopyOutcome }
  | { type: 'manifest-done'; digest: Digest; mediaType: string; reference: string | undefined; outcome: CopyOutcome };

/** The totals of a run, for the final summary. */
export interface CopyStats {
  /** Images (tags or digests asked for) copied, or found already there. */
  images: number;
  failedImages: number;
  manifests: Record<CopyOutcome, number>;
  blobs: Record<CopyOutcome, number>;
  /** Blob bytes transferred (0 in a dry run). */
  bytesCopied: number;
  /** Blob bytes that would be transferred (dry run) or were skipped or mounted. */
  bytesSkipped: number;
  bytesPlanned: number;
}

export function emptyStats(): CopyStats {
  const outcomes = (): Record<CopyOutcome, number> => ({ copied: 0, skipped: 0, mounted: 0, 'would-copy': 0 });
  return {
    images: 0,
    failedImages: 0,
    manifests: outcomes(),
    blobs: outcomes(),
    bytesCopied: 0,
    bytesSkipped: 0,
    bytesPlanned: 0,
  };
}
