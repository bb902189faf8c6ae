import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { parseAddressRanges } from '../../src/config/address-range.ts';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadConfig } from '../../src/config/index.ts';
import { parseForwarded, proxyTrust, registerForwardedHeader } from '../../src/http/forwarded.ts';

/** An app wired as createHttpServer wires it, answering with what the request says about its origin. */
async function originOf(
  trusted: readonly string[],
  remoteAddress: string,
  headers: Record<string, string>,
): Promise<{ ip: string; protocol: string; host: string }> {
  const trust = proxyTrust(trusted);
  const app = Fastify({ trustProxy: trust ?? false });
  registerForwardedHeader(app, trust);
  app.get('/', async (request) => ({ ip: request.ip, protocol: request.protocol, host: request.host }));
  try {
    const response = await app.inject({
      method: 'GET',
      url: '/',
      remoteAddress,
      headers: { host: 'wharf:5000', ...headers },
    });
    assert.equal(response.statusCode, 200);
    return response.json();
  } finally {
    await app.close();
  }
}

const forwardedHeaders = {
  'x-forwarded-for': '198.51.100.7, 10.0.0.9',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'registry.example.com',
};

describe('http.trustedproxies', () => {
  it('believes a trusted proxy: client address, scheme and host', async () => {
    assert.deepEqual(await originOf(['10.0.0.0/8'], '10.0.0.2', forwardedHeaders), {
      ip: '198.51.100.7',
      protocol: 'https',
      host: 'registry.example.com',
    });
  });

  it('stops at the first hop that is not a trusted proxy', async () => {
    const origin = await originOf(['10.0.0.2'], '10.0.0.2', forwardedHeaders);
    assert.equal(origin.ip, '10.0.0.9');
  });

  it('ignores the forwarded headers of an untrusted peer, and of everyone when the list is empty', async () => {
    const untouched = { ip: '192.0.2.50', protocol: 'http', host: 'wharf:5000' };
    assert.deepEqual(await originOf(['10.0.0.0/8'], '192.0.2.50', forwardedHeaders), untouched);
    assert.deepEqual(await originOf([], '192.0.2.50', forwardedHeaders), untouched);
    const forwarded = { forwarded: 'for=198.51.100.7;proto=https;host=registry.example.com' };
    assert.deepEqual(await originOf(['10.0.0.0/8'], '192.0.2.50', forwarded), untouched);
  });

  it('matches IPv4 peers of a dual-stack listener, IPv6 ranges and named ranges', async () => {
    assert.equal((await originOf(['127.0.0.1'], '::ffff:127.0.0.1', forwardedHeaders)).protocol, 'https');
    assert.equal((await originOf(['fd00::/8'], 'fd00::5', forwardedHeaders)).protocol, 'https');
    assert.equal((await originOf(['fd00::/8'], 'fe80::5', forwardedHeaders)).protocol, 'http');
    assert.equal((await originOf(['loopback'], '::1', forwardedHeaders)).host, 'registry.example.com');
    assert.equal((await originOf(['uniquelocal'], '172.20.1.1', forwardedHeaders)).ip, '198.51.100.7');
  });

  it('takes RFC 7239 Forwarded from a trusted proxy when X-Forwarded-* are absent', async () => {
    const origin = await originOf(['10.0.0.0/8'], '10.0.0.2', {
      forwarded: 'for="[2001:db8::17]:4711";proto=http, for=10.0.0.9;proto=HTTPS;host="registry.example.com:8443"',
    });
    assert.deepEqual(origin, { ip: '2001:db8::17', protocol: 'https', host: 'registry.example.com:8443' });
  });

  it('prefers X-Forwarded-* over Forwarded and ignores unusable Forwarded values', async () => {
    const origin = await originOf(['10.0.0.0/8'], '10.0.0.2', {
      forwarded: 'for=203.0.113.1;proto=gopher;host="evil example"',
      'x-forwarded-proto': 'https',
    });
    assert.deepEqual(origin, { ip: '203.0.113.1', protocol: 'https', host: 'wharf:5000' });
  });
});

describe('parseForwarded', () => {
  it('splits elements and pairs outside quotes', () => {
    assert.deepEqual(parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43, for="[::1]";host="a,b;c"'), [
      { for: '192.0.2.60', proto: 'http' },
      { for: '::1', host: 'a,b;c' },
    ]);
    assert.deepEqual(parseForwarded('For=unknown , ;'), [{ for: 'unknown' }]);
  });
});

describe('parseAddressRanges', () => {
  it('reads addresses, CIDR ranges and names, and refuses anything else', () => {
    assert.deepEqual(parseAddressRanges('10.0.0.0/8'), [{ family: 'ipv4', network: '10.0.0.0', prefix: 8 }]);
    assert.deepEqual(parseAddressRanges('::1'), [{ family: 'ipv6', network: '::1', prefix: 128 }]);
    assert.equal(parseAddressRanges('loopback')?.length, 2);
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/8/8', 'proxy.example.com', '', '10.0.0.0/-1']) {
      assert.equal(parseAddressRanges(bad), undefined, bad);
    }
  });

  it('makes a bad entry a config error naming its item', async () => {
    const error = await loadConfig({ env: { REGISTRY_HTTP_TRUSTEDPROXIES: '[10.0.0.0/8, proxy.example.com]' } }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof ConfigError, String(error));
    assert.match(
      error.message,
      /^http\.trustedproxies\[1\]: expected an IP address, a CIDR range .*got "proxy\.example\.com"/,
    );
  });

  it('reads a single entry and indexed entries from the environment', async () => {
    const single = await loadConfig({ env: { REGISTRY_HTTP_TRUSTEDPROXIES: '10.0.0.0/8' } });
    assert.deepEqual(single.config.http.trustedproxies, ['10.0.0.0/8']);
    const indexed = await loadConfig({
      env: { REGISTRY_HTTP_TRUSTEDPROXIES_0: 'loopback', REGISTRY_HTTP_TRUSTEDPROXIES_1: 'fd00::/8' },
    });
    assert.deepEqual(indexed.config.http.trustedproxies, ['loopback', 'fd00::/8']);
  });
});
