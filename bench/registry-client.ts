import type { Agent } from 'node:http';
import type { Blob } from './blob-data.ts';
import { BlobDownloader } from './blob-downloader.ts';
import { expectStatus, type HttpResponse, send } from './http-client.ts';

const octetStream = 'application/octet-stream';

/** The distribution-API requests the benchmark makes, against one server through one connection pool. */
export class RegistryClient {
  private downloader: BlobDownloader | undefined;

  constructor(
    readonly baseUrl: string,
    readonly agent: Agent,
  ) {}

  /** POST, then the whole blob in the PUT that closes the upload. */
  async pushMonolithic(repository: string, blob: Blob): Promise<void> {
    const location = await this.startUpload(repository);
    location.searchParams.set('digest', blob.digest);
    const response = await send({
      method: 'PUT',
      url: location,
      agent: this.agent,
      headers: { 'content-type': octetStream, 'content-length': blob.size },
      body: blob.slices(),
      collectBody: true,
    });
    this.expectCommitted(response, blob);
  }

  /** POST + PUT of a small in-memory blob such as an image config. */
  async pushBytes(repository: string, bytes: Buffer, digest: string): Promise<void> {
    const location = await this.startUpload(repository);
    location.searchParams.set('digest', digest);
    const response = await send({
      method: 'PUT',
      url: location,
      agent: this.agent,
      headers: { 'content-type': octetStream },
      body: bytes,
      collectBody: true,
    });
    this.expectCommitted(response, { digest });
  }

  /** What `docker push` does: POST, one PATCH streaming the blob with chunked encoding, an empty PUT. */
  async pushStreamed(repository: string, blob: Blob): Promise<void> {
    const location = await this.startUpload(repository);
    const patched = await send({
      method: 'PATCH',
      url: location,
      agent: this.agent,
      headers: { 'content-type': octetStream },
      body: blob.slices(),
      collectBody: true,
    });
    expectStatus(patched, 202, `PATCH ${repository} upload`);
    await this.closeUpload(this.location(patched), blob);
  }

  /** POST, one PATCH with Content-Range per chunk, an empty PUT. */
  async pushChunked(repository: string, blob: Blob, chunkSize: number): Promise<void> {
    let location = await this.startUpload(repository);
    for (let start = 0; start < blob.size; start += chunkSize) {
      const end = Math.min(blob.size, start + chunkSize);
      const patched = await send({
        method: 'PATCH',
        url: location,
        agent: this.agent,
        headers: { 'content-type': octetStream, 'content-length': end - start, 'content-range': `${start}-${end - 1}` },
        body: blob.slices(start, end),
        collectBody: true,
      });
      expectStatus(patched, 202, `PATCH ${repository} upload chunk ${start}-${end - 1}`);
      location = this.location(patched);
    }
    await this.closeUpload(location, blob);
  }

  /** GET the blob, discarding the bytes but checking how many arrived. */
  async pullBlob(repository: string, blob: Blob): Promise<void> {
    this.downloader ??= new BlobDownloader(new URL(this.baseUrl));
    const response = await this.downloader.get(`/v2/${repository}/blobs/${blob.digest}`);
    if (response.status !== 200) throw new Error(`GET ${repository} blob: expected HTTP 200, got ${response.status}`);
    if (response.bodyBytes !== blob.size) {
      throw new Error(`GET ${repository} blob: expected ${blob.size} bytes, got ${response.bodyBytes}`);
    }
  }

  async putManifest(repository: string, reference: string, manifest: Buffer, mediaType: string): Promise<void> {
    const response = await send({
      method: 'PUT',
      url: `${this.baseUrl}/v2/${repository}/manifests/${reference}`,
      agent: this.agent,
      headers: { 'content-type': mediaType },
      body: manifest,
      collectBody: true,
    });
    expectStatus(response, 201, `PUT ${repository} manifest ${reference}`);
  }

  /** HEAD or GET a manifest; returns the body size so a caller can check it. */
  async readManifest(method: 'HEAD' | 'GET', repository: string, reference: string, accept: string): Promise<number> {
    const response = await send({
      method,
      url: `${this.baseUrl}/v2/${repository}/manifests/${reference}`,
      agent: this.agent,
      headers: { accept },
    });
    expectStatus(response, 200, `${method} ${repository} manifest ${reference}`);
    return method === 'HEAD' ? Number(response.headers['content-length']) : response.bodyBytes;
  }

  /** All tags of a repository, following `Link` pages if the server paginates. */
  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let url: URL | undefined = new URL(`${this.baseUrl}/v2/${repository}/tags/list`);
    while (url) {
      const response = await send({ method: 'GET', url, agent: this.agent, collectBody: true });
      expectStatus(response, 200, `GET ${repository} tags`);
      const page = JSON.parse(response.body.toString()) as { tags?: string[] | null };
      tags.push(...(page.tags ?? []));
      const next = /<([^>]+)>;\s*rel="?next"?/.exec(String(response.headers.link ?? ''))?.[1];
      url = next === undefined ? undefined : new URL(next, this.baseUrl);
    }
    return tags;
  }

  private async startUpload(repository: string): Promise<URL> {
    const response = await send({
      method: 'POST',
      url: `${this.baseUrl}/v2/${repository}/blobs/uploads/`,
      agent: this.agent,
      collectBody: true,
    });
    expectStatus(response, 202, `POST ${repository} upload`);
    return this.location(response);
  }

  private async closeUpload(location: URL, blob: Blob): Promise<void> {
    location.searchParams.set('digest', blob.digest);
    const response = await send({
      method: 'PUT',
      url: location,
      agent: this.agent,
      headers: { 'content-length': 0 },
      collectBody: true,
    });
    this.expectCommitted(response, blob);
  }

  private expectCommitted(response: HttpResponse, blob: Pick<Blob, 'digest'>): void {
    expectStatus(response, 201, `PUT blob ${blob.digest}`);
    const digest = response.headers['docker-content-digest'];
    if (digest !== undefined && digest !== blob.digest) {
      throw new Error(`PUT blob: server computed ${digest}, expected ${blob.digest}`);
    }
  }

  private location(response: HttpResponse): URL {
    const location = response.headers.location;
    if (!location) throw new Error(`HTTP ${response.status} without a Location header`);
    return new URL(location, this.baseUrl);
  }
}
