import { createHmac } from 'node:crypto';

/** The header carrying the body's HMAC-SHA256 under the subscriber's secret. */
export const signatureHeader = 'X-Wharf-Signature-256';

/** `sha256=<hex>` of the exact body bytes, as receivers recompute it to verify the sender. */
export function signBody(secret: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
