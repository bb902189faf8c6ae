import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from './config-error.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

const hostname = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Splits a Go-style listen address: `:5000` (every IPv4 interface), `127.0.0.1:0` (a port the kernel
 * picks), `localhost:5000`, `[::1]:5000`. `key` names the configuration key in the error.
 */
export function parseListenAddress(addr: string, key = 'http.addr'): ListenAddress {
  const fail = (reason: string): never => {
    throw new ConfigError(
      `${key}: invalid listen address ${JSON.stringify(addr)}: ${reason}; expected HOST:PORT such as :5000, 127.0.0.1:5000 or [::1]:5000`,
    );
  };
  let host: string;
  let portText: string;
  if (addr.startsWith('[')) {
    const match = /^\[([^\]]*)\]:(.*)$/.exec(addr);
    if (match === null) return fail('a bracketed IPv6 address must be followed by :PORT');
    host = match[1] ?? '';
    portText = match[2] ?? '';
    if (!isIPv6(host)) return fail(`${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = addr.lastIndexOf(':');
    if (colon < 0) return fail('the port is missing');
    host = addr.slice(0, colon);
    portText = addr.slice(colon + 1);
    if (host.includes(':')) return fail('an IPv6 address must be in brackets');
    if (host === '') host = '0.0.0.0';
    else if (!isIPv4(host) && (!hostname.test(host) || /^[\d.]+$/.test(host))) {
      return fail(`${JSON.stringify(host)} is not a host name or IP address`);
    }
  }
  if (!/^\d{1,5}$/.test(portText)) return fail('the port must be a number from 0 to 65535');
  const port = Number(portText);
  if (port > 65535) return fail('the port must be a number from 0 to 65535');
  return { host, port };
}
