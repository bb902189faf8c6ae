import { X509Certificate } from 'node:crypto';

/**
 * The expiry, in seconds since the Unix epoch, of the certificate `read` returns at the time of
 * asking (it changes when the files are reloaded); parsed once per certificate, not per scrape.
 */
export function certificateExpiry(read: () => Buffer): () => number | undefined {
  let parsed: { pem: Buffer; expiry: number | undefined } | undefined;
  return () => {
    const pem = read();
    if (parsed?.pem !== pem) {
      const time = Date.parse(new X509Certificate(pem).validTo);
      parsed = { pem, expiry: Number.isFinite(time) ? time / 1000 : undefined };
    }
    return parsed.expiry;
  };
}
