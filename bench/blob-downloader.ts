import { connect, type Socket } from 'node:net';

/** A request that neither sends nor receives a byte for this long is abandoned as a failure. */
const idleTimeoutMs = 60_000;
const readBufferSize = 256 * 1024;
const maxHeadSize = 16 * 1024;

export interface Download {
  status: number;
  bodyBytes: number;
}

/**
 * GETs blobs over plain keep-alive HTTP/1.1 sockets that read into one reused buffer and only count the body.
 * node:http allocates a Buffer and emits a stream event per chunk, which costs about four times the CPU per
 * gigabyte; on a machine the client shares with the servers, that would make the client the bottleneck.
 */
export class BlobDownloader {
  private readonly idle: Connection[] = [];

  constructor(private readonly baseUrl: URL) {}

  async get(path: string): Promise<Download> {
    let connection = this.idle.pop();
    while (connection?.closed) connection = this.idle.pop();
    connection ??= new Connection(this.baseUrl);
    const download = await connection.get(path);
    this.idle.push(connection);
    return download;
  }
}

interface Pending {
  resolve: (download: Download) => void;
  reject: (error: Error) => void;
  head: string;
  status: number;
  /** Body bytes still to come, once the head has been read. */
  remaining: number | undefined;
  bodyBytes: number;
}

class Connection {
  private readonly socket: Socket;
  private pending: Pending | undefined;
  closed = false;

  constructor(private readonly baseUrl: URL) {
    this.socket = connect({
      host: baseUrl.hostname,
      port: Number(baseUrl.port),
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(readBufferSize),
        callback: (length, buffer) => {
          this.receive(buffer, length);
          return true;
        },
      },
    });
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(new Error('connection closed by the server')));
    this.socket.on('timeout', () => this.fail(new Error(`no progress for ${idleTimeoutMs / 1000} s`)));
  }

  get(path: string): Promise<Download> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, head: '', status: 0, remaining: undefined, bodyBytes: 0 };
      this.socket.setTimeout(idleTimeoutMs);
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${this.baseUrl.host}\r\nUser-Agent: wharf-bench\r\n\r\n`);
    });
  }

  private receive(buffer: Uint8Array, length: number): void {
    const pending = this.pending;
    if (!pending) return;
    let bodyInChunk = length;
    if (pending.remaining === undefined) {
      // latin1 maps bytes one to one, so string offsets are byte offsets. A head fits in the first few KiB.
      const before = pending.head.length;
      pending.head += Buffer.from(buffer.buffer, buffer.byteOffset, Math.min(length, maxHeadSize)).toString('latin1');
      const headEnd = pending.head.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        if (pending.head.length >= maxHeadSize) this.fail(new Error('response head larger than 16 KiB'));
        return;
      }
      bodyInChunk = length - (headEnd + 4 - before);
      const head = pending.head.slice(0, headEnd);
      pending.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const contentLength = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
      if (contentLength === undefined) {
        this.fail(new Error(`HTTP ${pending.status} without Content-Length is not supported here`));
        return;
      }
      pending.remaining = Number(contentLength);
    }
    pending.bodyBytes += bodyInChunk;
    pending.remaining -= bodyInChunk;
    if (pending.remaining <= 0) {
      this.pending = undefined;
      this.socket.setTimeout(0);
      pending.resolve({ status: pending.status, bodyBytes: pending.bodyBytes });
    }
  }

  private fail(error: Error): void {
    this.closed = true;
    this.socket.destroy();
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }
}
