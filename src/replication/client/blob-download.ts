import { Readable } from 'node:stream';
import { createDigester, type Digest, digestAlgorithm, finishDigest } from '../../oci/digest.ts';
import { DigestMismatchError, RegistryClientError } from './registry-client-error.ts';
import { isConnectionError, type RetryPolicy, retryDelayMs, sleep } from './retry-policy.ts';

export interface RangeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** Sends the blob GET from `offset` (with `Range: bytes=offset-` when not 0); throws on an error status. */
export type RangeFetcher = (offset: number) => Promise<RangeResponse>;

export interface BlobDownload {
  /** The blob's length: the descriptor's, else the registry's Content-Length. */
  size: number;
  /** The bytes, verified: the stream fails with DigestMismatchError instead of ending on wrong bytes. */
  content: Readable;
}

/**
 * Downloads a blob as a stream with constant memory. A connection lost midway is resumed with a
 * Range request from the last byte received (from the start, skipping what was already passed on,
 * when the registry ignores Range), up to the policy's attempts without progress. The bytes are
 * hashed as they pass and the stream errors rather than ends when the digest or length is wrong.
 */
export async function downloadBlob(
  descriptor: { digest: Digest; size?: number },
  fetchFrom: RangeFetcher,
  policy: RetryPolicy,
  onResume?: (offset: number) => void,
): Promise<BlobDownload> {
  const first = await fetchFrom(0);
  const declared = contentLength(first.headers);
  const expectedSize = descriptor.size ?? declared;
  if (expectedSize === undefined) {
    first.body.destroy();
    throw new RegistryClientError(`blob ${descriptor.digest}: the registry sent no Content-Length`);
  }
  const size: number = expectedSize;
  if (declared !== undefined && declared !== size) {
    first.body.destroy();
    throw new DigestMismatchError(`blob ${descriptor.digest} length`, `${size} bytes`, `${declared} bytes`);
  }

  async function* verifiedBytes(): AsyncGenerator<Buffer> {
    const algorithm = digestAlgorithm(descriptor.digest);
    const hash = createDigester(algorithm);
    let body = first.body;
    let received = 0;
    let skip = 0;
    let failures = 0;
    let receivedAtLastFailure = -1;
    try {
      while (true) {
        try {
          for await (const chunk of body as AsyncIterable<Buffer>) {
            let data = chunk;
            if (skip > 0) {
              if (data.length <= skip) {
                skip -= data.length;
                continue;
              }
              data = data.subarray(skip);
              skip = 0;
            }
            received += data.length;
            if (received > size) {
              throw new DigestMismatchError(`blob ${descriptor.digest} length`, `${size} bytes`, `more`);
            }
            hash.update(data);
            yield data;
          }
          if (received === size) break;
          throw Object.assign(new Error(`the response ended after ${received} of ${size} bytes`), {
            code: 'ERR_STREAM_PREMATURE_CLOSE',
          });
        } catch (error) {
          if (!isConnectionError(error)) throw error;
          if (received !== receivedAtLastFailure) failures = 0;
          failures += 1;
          receivedAtLastFailure = received;
          if (failures >= policy.attempts) {
            throw new RegistryClientError(
              `blob ${descriptor.digest}: the download failed at byte ${received} of ${size}: ${(error as Error).message}`,
              { retryable: true, cause: error },
            );
          }
          body.destroy();
          await sleep(retryDelayMs(failures, policy));
          const resumed = await fetchFrom(received);
          body = resumed.body;
          if (resumed.status === 206) {
            const start = rangeStart(resumed.headers);
            if (start !== received) {
              throw new RegistryClientError(
                `blob ${descriptor.digest}: asked to resume at byte ${received}, the registry sent from ${start ?? 'an unknown offset'}`,
              );
            }
            skip = 0;
          } else {
            skip = received;
          }
          onResume?.(received);
        }
      }
      const actual = finishDigest(hash, algorithm);
      if (actual !== descriptor.digest) throw new DigestMismatchError('blob content', descriptor.digest, actual);
    } finally {
      body.destroy();
    }
  }

  return { size, content: Readable.from(verifiedBytes(), { objectMode: false }) };
}

function header(headers: RangeResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(headers: RangeResponse['headers']): number | undefined {
  const value = header(headers, 'content-length');
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

function rangeStart(headers: RangeResponse['headers']): number | undefined {
  const match = /^bytes\s+(\d+)-/i.exec(header(headers, 'content-range') ?? '');
  return match ? Number(match[1]) : undefined;
}
