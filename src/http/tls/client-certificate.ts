import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

export interface VerifiedClientCertificate {
  subjectCommonName: string;
}

/**
 * The client certificate of a connection, only when the TLS layer verified it against
 * http.tls.clientcas (`socket.authorized`). An unverified, absent or ambiguous certificate (no
 * subject CN, or several) identifies nobody.
 */
export function verifiedClientCertificate(socket: Socket | TLSSocket): VerifiedClientCertificate | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const commonName: string | string[] | undefined = socket.getPeerCertificate().subject?.CN;
  if (typeof commonName !== 'string' || commonName === '') return undefined;
  return { subjectCommonName: commonName };
}
