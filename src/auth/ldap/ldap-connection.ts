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
 * Opens one LDAP connection, secured as configured: TLS from the first byte for `ldaps://`, or
 * StartTLS on `ldap://`. The caller unbinds it when done.
 */
export async function openLdapConnection(options: LdapConnectionOptions): Promise<Client> {
  const url = new URL(options.url);
  const secure = url.protocol === 'ldaps:';
  const tlsOptions = tlsOptionsFor(url, options);
  // ldapts switches to TLS from the first byte whenever tlsOptions are given, so they go to
  // the client only for ldaps:// and to startTLS() otherwise.
  const client = new Client({
    url: options.url,
    timeout: options.timeout,
    connectTimeout: options.timeout,
    ...(secure ? { tlsOptions } : {}),
  });
  if (options.startTls && !secure) {
    try {
      await client.startTLS(tlsOptions);
    } catch (error) {
      await closeQuietly(client);
      throw error;
    }
  }
  return client;
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
