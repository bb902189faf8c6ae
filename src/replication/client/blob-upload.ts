import type { Readable } from 'node:stream';
import type { Digest } from '../../oci/digest.ts';
import { discardBody, type HttpResponse, headerValue, type Send } from './http-exchange.ts';
import { DigestMismatchError, RegistryClientError } from './registry-client-error.ts';
import { repositoryScope } from './scope.ts';

/**
 * Uploads a blob: POST for a session, then one streamed PUT (monolithic), or PATCH requests of
 * `chunkSize` bytes (at least what the registry asks for in OCI-Chunk-Min-Length) and a closing
 * PUT. Memory holds at most one chunk. A failed upload's session is cancelled.
 */
export async function uploadBlob(
  send: Send,
  repository: string,
  descriptor: { digest: Digest; size: number },
  content: Readable,
  chunkSize: number,
  signal?: AbortSignal,
): Promise<void> {
  const scopes = [repositoryScope(repository, 'pull', 'push')];
  const started = await send({
    method: 'POST',
    url: `/v2/${repository}/blobs/uploads/`,
    scopes,
    headers: { 'content-length': '0' },
    expect: [202],
    signal,
  });
  await discardBody(started.body);
  let location = uploadLocation(started);
  try {
    const minimum = Number(headerValue(started.headers, 'oci-chunk-min-length') ?? 0) || 0;
    const chunk = chunkSize > 0 ? Math.max(chunkSize, minimum) : 0;
    let finalBody: Readable | undefined = content;
    let finalLength = descriptor.size;
    if (chunk > 0 && descriptor.size > chunk) {
      let offset = 0;
      for await (const part of chunksOf(content, chunk)) {
        const patched = await send({
          method: 'PATCH',
          url: location,
          scopes,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${offset}-${offset + part.length - 1}`,
            'content-length': String(part.length),
          },
          body: part,
          retry: false,
          expect: [202],
          signal,
        });
        await discardBody(patched.body);
        location = uploadLocation(patched);
        offset += part.length;
      }
      if (offset !== descriptor.size) {
        throw new DigestMismatchError(
          `blob ${descriptor.digest} length`,
          `${descriptor.size} bytes`,
          `${offset} bytes`,
        );
      }
      finalBody = undefined;
      finalLength = 0;
    }
    const url = new URL(location);
    url.searchParams.set('digest', descriptor.digest);
    const committed = await send({
      method: 'PUT',
      url,
      scopes,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(finalLength),
      },
      ...(finalBody === undefined ? {} : { body: finalBody }),
      expect: [201],
      signal,
    });
    await discardBody(committed.body);
    const stored = headerValue(committed.headers, 'docker-content-digest');
    if (stored !== undefined && stored !== descriptor.digest) {
      throw new DigestMismatchError(`blob stored by ${repository}`, descriptor.digest, stored);
    }
  } catch (error) {
    content.destroy();
    await cancel(send, location, scopes);
    throw error;
  }
}

/**
 * Asks the registry to link a blob that `from` holds into `repository` without a transfer. True
 * when it did (201); false when it started an upload instead (202), which is cancelled.
 */
export async function mountBlob(send: Send, repository: string, digest: Digest, from: string): Promise<boolean> {
  const scopes = [repositoryScope(repository, 'pull', 'push'), repositoryScope(from, 'pull')];
  const query = new URLSearchParams({ mount: digest, from });
  const response = await send({
    method: 'POST',
    url: `/v2/${repository}/blobs/uploads/?${query}`,
    scopes,
    headers: { 'content-length': '0' },
    expect: [201, 202],
  });
  await discardBody(response.body);
  if (response.status === 201) return true;
  await cancel(send, uploadLocation(response), scopes);
  return false;
}

function uploadLocation(response: HttpResponse): URL {
  const location = headerValue(response.headers, 'location');
  if (!location) {
    throw new RegistryClientError(`the registry answered ${response.status} to an upload without a Location`, {
      status: response.status,
    });
  }
  return new URL(location, response.url);
}

async function cancel(send: Send, location: URL, scopes: readonly string[]): Promise<void> {
  try {
    const response = await send({ method: 'DELETE', url: location, scopes, expect: [202, 204, 404], retry: false });
    await discardBody(response.body);
  } catch {
    // The registry purges abandoned uploads on its own.
  }
}

/** The stream cut into Buffers of exactly `size` bytes (the last one shorter). */
async function* chunksOf(content: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const data of content as AsyncIterable<Buffer>) {
    let rest = data;
    while (length + rest.length >= size) {
      const take = size - length;
      parts.push(rest.subarray(0, take));
      yield Buffer.concat(parts);
      rest = rest.subarray(take);
      parts = [];
      length = 0;
    }
    if (rest.length > 0) {
      parts.push(rest);
      length += rest.length;
    }
  }
  if (length > 0) yield Buffer.concat(parts);
}
