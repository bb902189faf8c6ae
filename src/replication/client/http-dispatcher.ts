import { rootCertificates } from 'node:tls';
import { type Dispatcher, EnvHttpProxyAgent } from 'undici';

export interface TlsOptions {
  /** Certificate authorities to trust besides the system's (PEM). */
  ca?: string | Buffer | readonly (string | Buffer)[];
  /** A client certificate and its key (PEM), for registries that require mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /**
   * Do not verify the registry's certificate, and let a bare `host[:port]` fall back to plain HTTP
   * when HTTPS fails (skopeo's `--tls-verify=false`).
   */
  insecure?: boolean;
}

export interface TimeoutOptions {
  /** Establishing the connection (TCP and TLS). Default 30 s. */
  connectMs?: number;
  /** From sending a request to the response's headers. Default 5 min (a registry may verify a large blob first). */
  headersMs?: number;
  /** The longest silence while a response body is being received. Default 60 s. */
  bodyMs?: number;
}

/**
 * An HTTP(S) proxy. By default the usual variables apply (HTTPS_PROXY, HTTP_PROXY, NO_PROXY and
 * their lower-case forms); `url` sets the proxy for both schemes; `false` turns proxies off.
 */
export type ProxyOptions = { url?: string; noProxy?: string } | false;

export interface DispatcherOptions {
  tls?: TlsOptions;
  timeouts?: TimeoutOptions;
  proxy?: ProxyOptions;
  /** Connections kept per origin. Default 16. */
  connectionsPerOrigin?: number;
}

/** An undici dispatcher (connection pools per origin) with the TLS, proxy and timeout settings. */
export function createDispatcher(options: DispatcherOptions = {}): Dispatcher {
  const tls = options.tls ?? {};
  const extraCa = tls.ca === undefined ? [] : Array.isArray(tls.ca) ? tls.ca : [tls.ca];
  const connectTls = {
    rejectUnauthorized: !tls.insecure,
    ...(extraCa.length > 0 ? { ca: [...rootCertificates, ...extraCa.map(String)] } : {}),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
  };
  const timeouts = options.timeouts ?? {};
  const proxy =
    options.proxy === false
      ? { httpProxy: '', httpsProxy: '' }
      : options.proxy?.url !== undefined
        ? {
            httpProxy: options.proxy.url,
            httpsProxy: options.proxy.url,
            ...(options.proxy.noProxy === undefined ? {} : { noProxy: options.proxy.noProxy }),
          }
        : options.proxy?.noProxy !== undefined
          ? { noProxy: options.proxy.noProxy }
          : {};
  return new EnvHttpProxyAgent({
    ...proxy,
    connect: { ...connectTls, timeout: timeouts.connectMs ?? 30_000 },
    requestTls: connectTls,
    headersTimeout: timeouts.headersMs ?? 5 * 60_000,
    bodyTimeout: timeouts.bodyMs ?? 60_000,
    connections: options.connectionsPerOrigin ?? 16,
    keepAliveTimeout: 30_000,
  });
}
