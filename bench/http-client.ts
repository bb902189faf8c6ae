import { Agent, type IncomingHttpHeaders, request } from 'node:http';

/** A request that neither sends nor receives a byte for this long is abandoned as a failure. */
const idleTimeoutMs = 60_000;

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body when it was collected; empty when it was discarded. */
  body: Buffer;
  /** Bytes of body received, collected or not. */
  bodyBytes: number;
}

export interface HttpRequest {
  method: string;
  url: string | URL;
  agent: Agent;
  headers?: Record<string, string | number>;
  /** A whole body, or a stream of slices written with backpressure (chunked unless Content-Length is set). */
  body?: Buffer | Iterable<Buffer>;
  /** Keep the response body in memory (documents) or only count its bytes (blobs). */
  collectBody?: boolean;
}

/** A keep-alive connection pool of `connections` sockets to one server. */
export function connectionPool(connections: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
}

export function send(options: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      options.url,
      { method: options.method, agent: options.agent, headers: options.headers },
      (response) => {
        const chunks: Buffer[] = [];
        let bodyBytes = 0;
        response.on('data', (chunk: Buffer) => {
          bodyBytes += chunk.length;
          if (options.collectBody) chunks.push(chunk);
        });
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks),
            bodyBytes,
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.setTimeout(idleTimeoutMs, () =>
      outgoing.destroy(new Error(`${options.method} ${options.url}: no progress for ${idleTimeoutMs / 1000} s`)),
    );
    writeBody(outgoing, options.body).catch((error: Error) => outgoing.destroy(error));
  });
}

async function writeBody(outgoing: ReturnType<typeof request>, body: HttpRequest['body']): Promise<void> {
  if (body === undefined || Buffer.isBuffer(body)) {
    outgoing.end(body);
    return;
  }
  for (const slice of body) {
    if (outgoing.destroyed) return;
    if (!outgoing.write(slice)) {
      await new Promise<void>((resume) => {
        const done = () => {
          outgoing.off('drain', done);
          outgoing.off('close', done);
          resume();
        };
        outgoing.on('drain', done);
        outgoing.on('close', done);
      });
    }
  }
  outgoing.end();
}

/** Throws with the server's answer when the status is not the expected one. */
export function expectStatus(response: HttpResponse, expected: number, what: string): void {
  if (response.status !== expected) {
    const detail = response.body.length > 0 ? `: ${response.body.toString().slice(0, 300)}` : '';
    throw new Error(`${what}: expected HTTP ${expected}, got ${response.status}${detail}`);
  }
}
