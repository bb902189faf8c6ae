import { RegistryClient, type RetryOptions } from '../client/index.ts';
import type { EndpointConnection } from './replication-model.ts';

export interface EndpointClientOptions {
  retry?: RetryOptions;
  /** Upload blobs larger than this in PATCH chunks; 0 streams each in one PUT. */
  chunkSize?: number;
}

/** A registry client for a remote endpoint, with its credentials, CA and insecure flag. */
export function endpointClient(connection: EndpointConnection, options: EndpointClientOptions = {}): RegistryClient {
  const tls = {
    ...(connection.caCertificate === undefined ? {} : { ca: connection.caCertificate }),
    insecure: connection.insecure,
  };
  return new RegistryClient({
    registry: connection.url,
    ...(connection.username === undefined
      ? {}
      : { credentials: { username: connection.username, password: connection.password ?? '' } }),
    tls,
    userAgent: 'wharf-replication',
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
  });
}

export interface PingOutcome {
  healthy: boolean;
  message: string | undefined;
  authScheme: string | undefined;
  apiVersion: string | undefined;
}

const pingTimeoutMs = 15_000;

/** `GET /v2/` with the endpoint's credentials: whether it answers and accepts them. */
export async function pingEndpoint(connection: EndpointConnection): Promise<PingOutcome> {
  const client = endpointClient(connection, { retry: { attempts: 1 } });
  try {
    const result = await client.ping(AbortSignal.timeout(pingTimeoutMs));
    return { healthy: true, message: undefined, authScheme: result.authScheme, apiVersion: result.apiVersion };
  } catch (error) {
    return {
      healthy: false,
      message: error instanceof Error ? error.message : String(error),
      authScheme: undefined,
      apiVersion: undefined,
    };
  } finally {
    await client.close();
  }
}
