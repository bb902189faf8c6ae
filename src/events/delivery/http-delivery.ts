import { Agent, type Dispatcher, request } from 'undici';
import type { Subscriber } from '../subscriber.ts';
import type { RenderedPayload } from './payloads/render-payload.ts';
import { signatureHeader, signBody } from './signature.ts';

/** Why an attempt failed, as the metrics name it. */
export type FailureReason = 'http_4xx' | 'http_5xx' | 'timeout' | 'network';

export type AttemptResult =
  | { ok: true; status: number; latencyMs: number }
  | { ok: false; reason: FailureReason; status: number | undefined; error: string; latencyMs: number };

export interface DeliveryRequest {
  subscriber: Subscriber;
  payload: RenderedPayload;
  /** The event ids the body carries (one header per request, comma-separated for a batch). */
  eventIds: readonly string[];
  /** The delivery row of the first event, for receivers' logs. */
  deliveryId: number;
}

/** Response bodies are read only to free the connection; nothing beyond this is kept. */
const maxResponseBytes = 64 * 1024;

/**
 * POSTs payloads with undici: one connection pool for receivers with verified certificates, one
 * for policies that skip verification. Any 2xx or 3xx answer is success, as in Distribution;
 * redirects are not followed.
 */
export class HttpDelivery {
  private readonly verified = new Agent({ keepAliveTimeout: 30_000, connections: 16 });
  private readonly unverified = new Agent({
    keepAliveTimeout: 30_000,
    connections: 16,
    connect: { rejectUnauthorized: false },
  });

  constructor(private readonly userAgent: string) {}

  async send(delivery: DeliveryRequest): Promise<AttemptResult> {
    const { subscriber, payload } = delivery;
    const headers: Record<string, string | string[]> = {};
    for (const [name, values] of Object.entries(subscriber.headers)) headers[name.toLowerCase()] = values;
    headers['content-type'] = payload.contentType;
    headers['user-agent'] = this.userAgent;
    headers['x-wharf-event-id'] = delivery.eventIds.join(',');
    headers['x-wharf-delivery'] = String(delivery.deliveryId);
    if (subscriber.secret !== undefined)
      headers[signatureHeader.toLowerCase()] = signBody(subscriber.secret, payload.body);
    const started = performance.now();
    const dispatcher: Dispatcher = subscriber.insecure ? this.unverified : this.verified;
    try {
      const response = await request(subscriber.url, {
        method: 'POST',
        headers,
        body: payload.body,
        dispatcher,
        signal: AbortSignal.timeout(subscriber.timeoutMs),
        headersTimeout: subscriber.timeoutMs,
        bodyTimeout: subscriber.timeoutMs,
      });
      await drain(response.body);
      const latencyMs = performance.now() - started;
      const status = response.statusCode;
      if (status >= 200 && status < 400) return { ok: true, status, latencyMs };
      return {
        ok: false,
        reason: status >= 500 ? 'http_5xx' : 'http_4xx',
        status,
        error: `the receiver answered ${status}`,
        latencyMs,
      };
    } catch (error) {
      const latencyMs = performance.now() - started;
      const timedOut = isTimeout(error);
      return {
        ok: false,
        reason: timedOut ? 'timeout' : 'network',
        status: undefined,
        error: timedOut ? `no answer within ${subscriber.timeoutMs} ms` : describe(error),
        latencyMs,
      };
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.verified.close(), this.unverified.close()]);
  }
}

async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    if (read > maxResponseBytes) break;
  }
}

function isTimeout(error: unknown): boolean {
  const named = error as { name?: string; code?: string } | null;
  return (
    named?.name === 'TimeoutError' ||
    named?.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    named?.code === 'UND_ERR_BODY_TIMEOUT' ||
    named?.code === 'UND_ERR_CONNECT_TIMEOUT'
  );
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  const code = (error as NodeJS.ErrnoException).code ?? (cause as NodeJS.ErrnoException | undefined)?.code;
  return code === undefined ? error.message : `${error.message} (${code})`;
}
