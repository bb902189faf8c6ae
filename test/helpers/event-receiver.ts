import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** One request the receiver got, with its body exactly as sent. */
export interface ReceivedDelivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Milliseconds since the epoch, when the request arrived. */
  at: number;
  json<T = unknown>(): T;
}

/** How to answer one request: a status after an optional delay. */
export interface ReceiverAnswer {
  status: number;
  delayMs?: number;
}

/**
 * A webhook receiver in the test process: a real HTTP server on a kernel-chosen port (or a given
 * one, to come back after being down) that records every request and answers as told.
 */
export class EventReceiver {
  readonly deliveries: ReceivedDelivery[] = [];
  private answer: (delivery: ReceivedDelivery) => ReceiverAnswer = () => ({ status: 200 });
  private server: Server | undefined;
  private chosenPort = 0;

  static async start(port = 0): Promise<EventReceiver> {
    const receiver = new EventReceiver();
    await receiver.listen(port);
    return receiver;
  }

  get port(): number {
    return this.chosenPort;
  }

  url(path = '/events'): string {
    return `http://127.0.0.1:${this.chosenPort}${path}`;
  }

  /** Decides the answer to each request from now on. */
  answerWith(answer: (delivery: ReceivedDelivery) => ReceiverAnswer): void {
    this.answer = answer;
  }

  async listen(port = this.chosenPort): Promise<void> {
    const server = createServer((request, response) => {
      const parts: Buffer[] = [];
      request.on('data', (part: Buffer) => parts.push(part));
      request.on('end', () => {
        const body = Buffer.concat(parts);
        const delivery: ReceivedDelivery = {
          path: request.url ?? '',
          headers: request.headers,
          body,
          at: Date.now(),
          json: <T>() => JSON.parse(body.toString('utf8')) as T,
        };
        this.deliveries.push(delivery);
        const { status, delayMs = 0 } = this.answer(delivery);
        const reply = () => {
          if (!response.destroyed) response.writeHead(status, { 'content-type': 'text/plain' }).end('recorded');
        };
        if (delayMs > 0) setTimeout(reply, delayMs).unref();
        else reply();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.chosenPort = (server.address() as AddressInfo).port;
  }

  /** Stops listening (the port then refuses connections); `listen()` brings it back on the same port. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests to `path`. */
  at(path: string): ReceivedDelivery[] {
    return this.deliveries.filter((delivery) => delivery.path === path);
  }

  /** Waits until `done` holds for the recorded deliveries; fails with `what` after `timeoutMs`. */
  async waitFor(done: (deliveries: ReceivedDelivery[]) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.deliveries)) {
      if (Date.now() > deadline) {
        const seen = this.deliveries.map((delivery) => `${delivery.path} ${delivery.body.toString().slice(0, 300)}`);
        throw new Error(`timed out waiting for ${what}; received ${this.deliveries.length}:\n${seen.join('\n')}`);
      }
      await sleep(50);
    }
  }
}

/** The events of Distribution-format deliveries to `path`, flattened from their envelopes. */
export function distributionEvents(receiver: EventReceiver, path: string): DistributionEvent[] {
  return receiver.at(path).flatMap((delivery) => delivery.json<{ events: DistributionEvent[] }>().events);
}

export interface DistributionEvent {
  id: string;
  timestamp: string;
  action: string;
  target: {
    mediaType?: string;
    size?: number;
    digest?: string;
    length?: number;
    repository?: string;
    url?: string;
    tag?: string;
  };
  request: { id: string; addr?: string; host?: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}
