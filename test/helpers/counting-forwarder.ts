import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { Transform } from 'node:stream';

/** One request that reached the forwarder. */
export interface ForwardedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  /** What the forwarder answered (the upstream's status, or its own). */
  status: number;
  /** When the last byte of the answer was passed on (performance.now()); 0 until then. */
  finishedAt: number;
}

export type ForwarderMode = 'forward' | 'throttle' | 'fail';

export interface CountingForwarder {
  url: string;
  host: string;
  /** Every request seen so far, in order. */
  readonly requests: readonly ForwardedRequest[];
  /** Requests whose method is `method` and whose path matches `pattern`. */
  count(method: string, pattern: RegExp): number;
  /** forward: pass everything on; throttle: answer 429 with Retry-After; fail: answer 503. */
  mode: ForwarderMode;
  /** Bytes per second passed on from the upstream's answers; 0 for no limit. */
  bandwidth: number;
  /** Stops listening and cuts open connections: the upstream is unreachable. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A small HTTP reverse proxy in front of a real registry, recording every request it passes on:
 * the tests count what the cache asks its upstream, and make the upstream rate-limit, fail or
 * vanish while the registry behind it keeps its content.
 */
export async function startCountingForwarder(target: string): Promise<CountingForwarder> {
  const upstream = new URL(target);
  const requests: ForwardedRequest[] = [];
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const state = { mode: 'forward' as ForwarderMode, bandwidth: 0 };

  const handle = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const record: ForwardedRequest = {
      method: incoming.method ?? 'GET',
      url: incoming.url ?? '/',
      status: 0,
      finishedAt: 0,
    };
    requests.push(record);
    if (state.mode !== 'forward') {
      incoming.resume();
      record.status = state.mode === 'throttle' ? 429 : 503;
      const body = JSON.stringify({
        errors: [
          state.mode === 'throttle'
            ? { code: 'TOOMANYREQUESTS', message: 'rate limit exceeded' }
            : { code: 'UNAVAILABLE', message: 'service unavailable' },
        ],
      });
      outgoing.writeHead(record.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...(state.mode === 'throttle' ? { 'retry-after': '60' } : {}),
      });
      outgoing.end(body);
      return;
    }
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: upstream.host },
      },
      (answer) => {
        record.status = answer.statusCode ?? 0;
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        const finished = () => {
          record.finishedAt = performance.now();
        };
        if (state.bandwidth > 0) {
          answer.pipe(throttled(state.bandwidth, finished)).pipe(outgoing);
        } else {
          answer.once('end', finished);
          answer.pipe(outgoing);
        }
      },
    );
    forwarded.on('error', () => {
      record.status = 502;
      if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-length': 0 });
      outgoing.end();
    });
    incoming.pipe(forwarded);
  };

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const created = createServer(handle);
      created.on('connection', (socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      created.once('error', reject);
      created.listen(port, '127.0.0.1', () => {
        const address = created.address();
        if (address && typeof address === 'object') port = address.port;
        server = created;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      const current = server;
      server = undefined;
      if (!current) {
        resolve();
        return;
      }
      current.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  await start();
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    count: (method, pattern) =>
      requests.filter((request) => request.method === method && pattern.test(request.url.split('?')[0] ?? '')).length,
    get mode() {
      return state.mode;
    },
    set mode(value: ForwarderMode) {
      state.mode = value;
    },
    get bandwidth() {
      return state.bandwidth;
    },
    set bandwidth(value: number) {
      state.bandwidth = value;
    },
    stop,
    start,
    close: stop,
  };
}

/** Passes bytes on at about `bytesPerSecond`, waiting whenever it gets ahead of that rate. */
function throttled(bytesPerSecond: number, finished: () => void): Transform {
  const started = performance.now();
  let passed = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      passed += chunk.length;
      const due = started + (passed / bytesPerSecond) * 1000;
      const wait = due - performance.now();
      if (wait <= 0) callback(null, chunk);
      else setTimeout(() => callback(null, chunk), wait);
    },
    flush(callback) {
      finished();
      callback();
    },
  });
}
