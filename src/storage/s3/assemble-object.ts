import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { S3Bucket, StoredObject } from './s3-bucket.ts';

/** How server-side copies are cut (Distribution's multipartcopy* keys). */
export interface CopySettings {
  /** Copies in flight at once. */
  concurrency: number;
  /** A source larger than this is copied in pieces of `chunkSize` rather than in one request. */
  thresholdSize: number;
  chunkSize: number;
}

/** One part of the assembled object: a source object, or a byte range of one. */
interface CopyPiece {
  key: string;
  range?: { start: number; end: number };
}

/** S3's limits on parts: at most 10,000, every one but the last at least 5 MiB. */
const maximumParts = 10_000;
const minimumPartSize = 5 * 1024 * 1024;

/**
 * Writes the concatenation of `sources` to `target` inside the store, without the bytes passing
 * through Wharf: an empty object for no sources, CopyObject for one small source, otherwise a
 * multipart upload whose parts are server-side copies (UploadPartCopy) of the sources or of ranges
 * of them, `concurrency` at a time. Every source but the last must be at least 5 MiB, as S3
 * requires of parts.
 */
export async function assembleObject(
  bucket: S3Bucket,
  target: string,
  sources: readonly StoredObject[],
  settings: CopySettings,
): Promise<void> {
  const [only] = sources;
  if (only === undefined) {
    await bucket.put(target, Buffer.alloc(0));
    return;
  }
  const pieces = copyPieces(sources, settings);
  if (pieces.length === 1) {
    await bucket.copy(only.key, target);
    return;
  }
  const { client, name } = bucket;
  const created = await client.send(
    new CreateMultipartUploadCommand({ Bucket: name, Key: target, ...bucket.creationParameters() }),
  );
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new Error(`S3 returned no UploadId for ${target}`);
  try {
    const etags = await mapConcurrently(pieces, settings.concurrency, async (piece, index) => {
      const response = await client.send(
        new UploadPartCopyCommand({
          Bucket: name,
          Key: target,
          UploadId: uploadId,
          PartNumber: index + 1,
          CopySource: bucket.copySource(piece.key),
          CopySourceRange: piece.range ? `bytes=${piece.range.start}-${piece.range.end}` : undefined,
        }),
      );
      const etag = response.CopyPartResult?.ETag;
      if (etag === undefined) throw new Error(`S3 returned no ETag for part ${index + 1} of ${target}`);
      return etag;
    });
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: name,
        Key: target,
        UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((etag, index) => ({ ETag: etag, PartNumber: index + 1 })) },
      }),
    );
  } catch (error) {
    // An unfinished multipart upload is invisible in listings but still billed: never leave one.
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: name, Key: target, UploadId: uploadId }))
      .catch(() => {});
    throw error;
  }
}

/**
 * The parts to copy: each source whole, or cut into `chunkSize` pieces when it is above the
 * threshold (a short remainder joins the piece before it, so no piece but the last is under
 * 5 MiB). Sources are copied whole when cutting would pass S3's part limit.
 */
export function copyPieces(sources: readonly StoredObject[], settings: CopySettings): CopyPiece[] {
  const pieces: CopyPiece[] = [];
  for (const source of sources) {
    if (source.size <= settings.thresholdSize || source.size <= settings.chunkSize) {
      pieces.push({ key: source.key });
      continue;
    }
    let start = 0;
    while (start < source.size) {
      let end = Math.min(start + settings.chunkSize, source.size);
      if (source.size - end < minimumPartSize) end = source.size;
      pieces.push({ key: source.key, range: { start, end: end - 1 } });
      start = end;
    }
  }
  return pieces.length <= maximumParts ? pieces : sources.map((source) => ({ key: source.key }));
}

/** Like Promise.all over items.map(work), with at most `limit` in flight; stops starting work after a failure. */
async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
