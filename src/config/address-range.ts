import { isIPv4, isIPv6 } from 'node:net';

export interface AddressRange {
  family: 'ipv4' | 'ipv6';
  /** The network address as written, e.g. `10.0.0.0` of `10.0.0.0/8`. */
  network: string;
  prefix: number;
}

/** The names proxy-addr (Express, Fastify) gives common ranges, so existing settings carry over. */
const namedRanges: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/**
 * The ranges an entry of `http.trustedproxies` names: an address (`10.1.2.3`, `::1`), a CIDR range
 * (`10.0.0.0/8`, `fd00::/8`) or `loopback`, `linklocal`, `uniquelocal`; undefined when it is none.
 */
export function parseAddressRanges(entry: string): AddressRange[] | undefined {
  const named = namedRanges[entry.trim().toLowerCase()];
  if (named) return named.map((range) => parseRange(range) as AddressRange);
  const range = parseRange(entry.trim());
  return range ? [range] : undefined;
}

function parseRange(text: string): AddressRange | undefined {
  const slash = text.indexOf('/');
  const network = slash === -1 ? text : text.slice(0, slash);
  const family = isIPv4(network) ? 'ipv4' : isIPv6(network) ? 'ipv6' : undefined;
  if (family === undefined) return undefined;
  const bits = family === 'ipv4' ? 32 : 128;
  if (slash === -1) return { family, network, prefix: bits };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= bits ? { family, network, prefix } : undefined;
}
