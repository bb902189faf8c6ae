import type { ServerResponse } from 'node:http';

const sentBesideWrite = new WeakMap<ServerResponse, number>();

/**
 * Body bytes put on a response's socket without going through `response.write` (sendfile), so the
 * access log and the response size metric, which count what `write` sees, still add them up.
 */
export function bodyBytesSentBesideWrite(response: ServerResponse): number {
  return sentBesideWrite.get(response) ?? 0;
}

export function recordBytesSentBesideWrite(response: ServerResponse, bytes: number): void {
  sentBesideWrite.set(response, bodyBytesSentBesideWrite(response) + bytes);
}
