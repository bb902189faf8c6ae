import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseAddressRanges } from '../config/address-range.ts';

/** Whether an address (the direct peer, or a hop of X-Forwarded-For) is one of `http.trustedproxies`. */
export type ProxyTrust = (address: string | undefined) => boolean;

/**
 * `http.trustedproxies` as Fastify's `trustProxy`: Fastify then takes `request.ip` from
 * X-Forwarded-For (the nearest hop that is not a trusted proxy), and `request.protocol` and
 * `request.host` from X-Forwarded-Proto and X-Forwarded-Host, only when the direct peer is trusted.
 * Undefined when the list is empty: every forwarded header is ignored.
 */
export function proxyTrust(entries: readonly string[]): ProxyTrust | undefined {
  if (entries.length === 0) return undefined;
  const trusted = new BlockList();
  for (const entry of entries) {
    const ranges = parseAddressRanges(entry);
    if (!ranges) throw new Error(`http.trustedproxies: ${JSON.stringify(entry)} is not an address or CIDR range`);
    for (const range of ranges) trusted.addSubnet(range.network, range.prefix, range.family);
  }
  return (address) => {
    if (address === undefined) return false;
    // IPv4 clients of a dual-stack listener arrive as ::ffff:a.b.c.d, which BlockList matches too.
    if (isIPv4(address)) return trusted.check(address, 'ipv4');
    return isIPv6(address) && trusted.check(address, 'ipv6');
  };
}

/**
 * RFC 7239 `Forwarded` from a trusted proxy stands in for the X-Forwarded-* headers it did not send,
 * so everything that reads `request.ip`, `request.protocol` and `request.host` sees it.
 */
export function registerForwardedHeader(app: FastifyInstance, trust: ProxyTrust | undefined): void {
  if (!trust) return;
  app.addHook('onRequest', async (request) => {
    const header = request.headers.forwarded;
    if (header === undefined || !trust(request.raw.socket.remoteAddress)) return;
    applyForwarded(request, parseForwarded(header));
  });
}

interface ForwardedElement {
  for?: string;
  proto?: string;
  host?: string;
}

function applyForwarded(request: FastifyRequest, elements: readonly ForwardedElement[]): void {
  const headers = request.raw.headers;
  const hops = elements.map((element) => element.for).filter((hop) => hop !== undefined);
  if (headers['x-forwarded-for'] === undefined && hops.length > 0) headers['x-forwarded-for'] = hops.join(', ');
  // The nearest proxy's word on the scheme and host: the last element that has them.
  const proto = elements.findLast((element) => element.proto !== undefined)?.proto?.toLowerCase();
  if (headers['x-forwarded-proto'] === undefined && (proto === 'http' || proto === 'https')) {
    headers['x-forwarded-proto'] = proto;
  }
  const host = elements.findLast((element) => element.host !== undefined)?.host;
  if (headers['x-forwarded-host'] === undefined && host !== undefined && /^[A-Za-z0-9.:[\]-]+$/.test(host)) {
    headers['x-forwarded-host'] = host;
  }
}

/** `for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"` → one element per proxy hop. */
export function parseForwarded(header: string): ForwardedElement[] {
  const elements: ForwardedElement[] = [];
  for (const element of splitOutsideQuotes(header, ',')) {
    const parsed: ForwardedElement = {};
    for (const pair of splitOutsideQuotes(element, ';')) {
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const name = pair.slice(0, equals).trim().toLowerCase();
      const value = unquote(pair.slice(equals + 1).trim());
      if (name === 'for') parsed.for = nodeAddress(value);
      else if (name === 'proto' || name === 'host') parsed[name] = value;
    }
    if (Object.keys(parsed).length > 0) elements.push(parsed);
  }
  return elements;
}

/** The address of a `for` node without its port: `[2001:db8::17]:4711` → `2001:db8::17`. */
function nodeAddress(node: string): string {
  if (node.startsWith('[')) {
    const close = node.indexOf(']');
    return close === -1 ? node : node.slice(1, close);
  }
  const colon = node.indexOf(':');
  return colon === -1 ? node : node.slice(0, colon);
}

function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let index = 0; index < text.length; index++) {
    const character = text[index];
    if (character === '\\' && quoted) index++;
    else if (character === '"') quoted = !quoted;
    else if (character === separator && !quoted) {
      parts.push(text.slice(start, index));
      start = index + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.filter((part) => part.trim() !== '');
}
