import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A JSON payload carried by the client (a cookie, an upload Location) and trusted on return
 * because it is HMAC-signed with a key only the registry instances hold: `<base64url body>.<mac>`.
 */
export function sealValue(payload: unknown, key: Buffer): string {
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  return `${body}.${mac(body, key)}`;
}

/** The parsed payload, or undefined when the value is malformed or its signature is wrong. */
export function openSealedValue(value: string, key: Buffer): unknown {
  const [body, signature, ...rest] = value.split('.');
  if (body === undefined || signature === undefined || rest.length > 0) return undefined;
  const expected = Buffer.from(mac(body, key), 'utf8');
  const actual = Buffer.from(signature, 'utf8');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
  try {
    return JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function mac(body: string, key: Buffer): string {
  return createHmac('sha256', key).update(body, 'utf8').digest('base64url');
}
