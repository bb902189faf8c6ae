import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client } from 'ldapts';

export interface LdapConnectionOptions {
  /** `ldap://host:port` or `ldaps://host:port`. */
  url: string;
  /** Upgrade an `ldap://` connection with the StartTLS extended operation before any bind. */
  startTls: boolean;
  /** PEM certificates to trust instead of the system's. */
  ca: string | undefined;
  /** Accept any server certificate (test setups only). */
  insecureSkipVerify: boolean;
  /** Milliseconds for the TCP connection and for each operation. */
  timeout: number;
}

/**
 * A client for one login, secured as configured: TLS from the first byte for `ldaps://`, or
 * StartTLS on `ldap://` (see secureLdapConnection). It connects at its first operation; the
 * caller unbinds it when done.
 */
export function createLdapClient(options: LdapConnectionOptions): Client {
  const url = new URL(options.url);
  // ldapts switches to TLS from the first byte whenever tlsOptions are given, so they go to
  // the client only for ldaps:// and to startTLS() otherwise.
  return new Client({
    url: options.url,
    timeout: options.timeout,
    connectTimeout: options.timeout,
    ...(url.protocol === 'ldaps:' ? { tlsOptions: tlsOptionsFor(url, options) } : {}),
  });
}

/** Upgrades with StartTLS, when configured, before anything else is sent. */
export async function secureLdapConnection(client: Client, options: LdapConnectionOptions): Promise<void> {
  const url = new URL(options.url);
  if (options.startTls && url.protocol !== 'ldaps:') await client.startTLS(tlsOptionsFor(url, options));
}

function tlsOptionsFor(url: URL, options: LdapConnectionOptions): ConnectionOptions {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    // SNI carries host names only; the certificate is still checked against an IP address.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    rejectUnauthorized: !options.insecureSkipVerify,
    minVersion: 'TLSv1.2',
  };
}

export async function closeQuietly(client: Client): Promise<void> {
  try {
    await client.unbind();
  } catch {
    // The connection is going away either way.
  }
}
