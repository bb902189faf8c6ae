import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basic, parseChallenge, writeHtpasswd } from '../helpers/auth.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * http.trustedproxies: behind a trusted proxy the token realm uses the scheme and host the client
 * used, and logs and login lockout see the client's address; anybody else's forwarded headers are
 * ignored.
 */

const forwarded = {
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'registry.example.com',
  'x-forwarded-for': '203.0.113.9',
};

const dataDirs: string[] = [];

async function startWithProxies(trustedProxies: string): Promise<WharfProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'wharf-forwarded-'));
  dataDirs.push(dataDir);
  await writeHtpasswd(join(dataDir, 'htpasswd'), [{ username: 'alice', password: 'correct horse' }]);
  return startWharf({
    dataDir,
    env: {
      REGISTRY_HTTP_TRUSTEDPROXIES: trustedProxies,
      REGISTRY_AUTH_HTPASSWD_PATH: join(dataDir, 'htpasswd'),
      REGISTRY_AUTH_TOKENSERVICE_ENABLED: 'true',
      REGISTRY_AUTH_LOCKOUT_ATTEMPTS: '1',
      REGISTRY_LOG_ACCESSLOG_DISABLED: 'false',
      REGISTRY_LOG_FORMATTER: 'json',
    },
  });
}

after(async () => {
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function realmOf(base: string, headers: Record<string, string>): Promise<string> {
  const response = await fetch(`${base}/v2/`, { headers });
  assert.equal(response.status, 401);
  await response.arrayBuffer();
  return parseChallenge(response.headers.get('www-authenticate')).params.realm ?? '';
}

/** The access log line of the request that carried this User-Agent. */
async function accessLogOf(wharf: WharfProcess, userAgent: string): Promise<Record<string, unknown>> {
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const line of wharf.output().split('\n')) {
      if (!line.includes(userAgent)) continue;
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry['http.request.useragent'] === userAgent) return entry;
      } catch {
        // A line still being written; the next look finds it whole.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail(`no access log line for ${userAgent}:\n${wharf.output()}`);
}

async function tokenStatus(base: string, password: string, clientAddress: string): Promise<number> {
  const response = await fetch(`${base}/service/token?scope=repository:any/repo:pull`, {
    headers: { authorization: basic(`user-${password}`, password), 'x-forwarded-for': clientAddress },
  });
  await response.arrayBuffer();
  return response.status;
}

describe('forwarded headers from a trusted proxy', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWithProxies('loopback');
  });
  after(async () => {
    await wharf?.close();
  });

  it('builds the token realm from X-Forwarded-Proto and X-Forwarded-Host', async () => {
    assert.equal(await realmOf(wharf.url, forwarded), 'https://registry.example.com/service/token');
    assert.equal(await realmOf(wharf.url, {}), `${wharf.url}/service/token`);
  });

  it('builds it from RFC 7239 Forwarded when the proxy sends that instead', async () => {
    const realm = await realmOf(wharf.url, { forwarded: 'for=203.0.113.9;proto=https;host=registry.example.com:8443' });
    assert.equal(realm, 'https://registry.example.com:8443/service/token');
  });

  it("logs the client's address and the host it asked for", async () => {
    const agent = `forwarded-test/${Date.now()}`;
    await fetch(`${wharf.url}/v2/`, { headers: { ...forwarded, 'user-agent': agent } }).then((r) => r.arrayBuffer());
    const entry = await accessLogOf(wharf, agent);
    assert.equal(entry['http.request.remoteaddr'], '203.0.113.9');
    assert.equal(entry['http.request.host'], 'registry.example.com');
  });

  it("locks out the client's address, not the proxy's", async () => {
    // One failure locks an account, four lock an address (auth.lockout.attempts: 1).
    for (const password of ['a1', 'a2', 'a3', 'a4']) {
      assert.equal(await tokenStatus(wharf.url, password, '198.51.100.1'), 401, `failure ${password}`);
    }
    assert.equal(await tokenStatus(wharf.url, 'a5', '198.51.100.1'), 429, 'that address is locked');
    assert.equal(await tokenStatus(wharf.url, 'b1', '198.51.100.2'), 401, 'another client behind the proxy is not');
  });
});

describe('forwarded headers from an untrusted peer', () => {
  let wharf: WharfProcess;
  before(async () => {
    // The test connects from loopback, which is not in the list.
    wharf = await startWithProxies('10.0.0.0/8');
  });
  after(async () => {
    await wharf?.close();
  });

  it('ignores them for the realm, the log and the lockout', async () => {
    assert.equal(await realmOf(wharf.url, forwarded), `${wharf.url}/service/token`);
    assert.equal(
      await realmOf(wharf.url, { forwarded: 'for=203.0.113.9;proto=https;host=registry.example.com' }),
      `${wharf.url}/service/token`,
    );
    const agent = `untrusted-test/${Date.now()}`;
    await fetch(`${wharf.url}/v2/`, { headers: { ...forwarded, 'user-agent': agent } }).then((r) => r.arrayBuffer());
    const entry = await accessLogOf(wharf, agent);
    assert.equal(entry['http.request.remoteaddr'], '127.0.0.1');
    assert.equal(entry['http.request.host'], new URL(wharf.url).host);

    for (const password of ['a1', 'a2', 'a3', 'a4']) {
      assert.equal(await tokenStatus(wharf.url, password, `198.51.100.${password.slice(1)}`), 401);
    }
    assert.equal(await tokenStatus(wharf.url, 'b1', '198.51.100.99'), 429, 'every client is the peer itself');
  });
});
