import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest, send } from '../helpers/http.ts';
import { ensureWebBuild } from '../helpers/web-build.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/** The web UI's files as the server serves them, with the registry's own paths untouched. */
describe('web UI static files', () => {
  let wharf: WharfProcess;
  let index = '';

  before(async () => {
    ensureWebBuild();
    wharf = await startWharf();
  });

  after(async () => {
    await wharf?.close();
  });

  it('redirects / to the app', async () => {
    const root = await send(`${wharf.url}/`);
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/ui/');
  });

  it('serves index.html uncached, with a restrictive Content-Security-Policy', async () => {
    const page = await send(`${wharf.url}/ui/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const policy = page.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) {
      assert.ok(policy.includes(directive), `${directive} in ${policy}`);
    }
    assert.ok(!policy.includes('unsafe-inline') && !policy.includes('unsafe-eval'), policy);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    index = page.text();
    assert.match(index, /<div id="root"><\/div>/);
    assert.doesNotMatch(index, /<script>(?!<\/script>)/, 'no inline script');
  });

  it('serves hashed assets with their type, immutable caching, gzip and ETags', async () => {
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(index)?.[1];
    const style = /href="(\/ui\/assets\/[^"]+\.css)"/.exec(index)?.[1];
    assert.ok(script && style, `asset links in ${index}`);
    const js = await send(`${wharf.url}${script}`, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('content-encoding'), null);
    const css = await send(`${wharf.url}${style}`);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');

    const zipped = await rawRequest(wharf.url, { method: 'GET', path: script, headers: { 'accept-encoding': 'gzip' } });
    assert.equal(zipped.headers.get('content-encoding'), 'gzip');
    assert.ok(zipped.body.length < js.body.length, 'gzipped is smaller');
    const etag = js.headers.get('etag');
    assert.ok(etag);
    const again = await send(`${wharf.url}${script}`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  it('answers app routes with index.html, and missing files with 404', async () => {
    for (const path of ['/ui/projects/team', '/ui/repo/team/my.app', '/ui/repo/team/app@sha256:0123']) {
      const page = await send(`${wharf.url}${path}`);
      assert.equal(page.status, 200, path);
      assert.equal(page.text(), index, path);
      assert.equal(page.headers.get('cache-control'), 'no-cache', path);
    }
    for (const path of ['/ui/assets/missing-0000.js', '/ui/favicon.ico']) {
      const missing = await send(`${wharf.url}${path}`);
      assert.equal(missing.status, 404, path);
      assert.doesNotMatch(missing.text(), /<div id="root">/, path);
    }
  });

  it('leaves the registry, the management API and the probes as they were', async () => {
    const base = await send(`${wharf.url}/v2/`);
    assert.equal(base.status, 200);
    assert.equal(base.headers.get('docker-distribution-api-version'), 'registry/2.0');
    for (const path of ['/v2/nothing/here/tags/list', '/v2/team/app/manifests/latest', '/api/v1/nothing', '/token']) {
      const answer = await send(`${wharf.url}${path}`);
      assert.equal(answer.status, 404, path);
      assert.match(answer.headers.get('content-type') ?? '', /^application\/json/, path);
      assert.equal(answer.headers.get('content-security-policy'), null, path);
    }
    const health = await send(`${wharf.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
  });

  it('never serves a file outside the build', async () => {
    const attempts = [
      '/..%2f..%2fetc/passwd',
      '/ui/..%2f..%2f..%2fetc/passwd',
      '/ui/../../../etc/passwd',
      '/ui/assets/..%2f..%2f..%2fpackage.json',
      '/ui/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/ui/..%5c..%5c..%5cpackage.json',
      '/ui/assets/%2e%2e%2f%2e%2e%2f.built',
      '/ui/.built',
      '/ui/%00',
      '/ui/%E0%A4%A',
      '/ui//etc/passwd',
    ];
    for (const path of attempts) {
      const answer = await rawRequest(wharf.url, { method: 'GET', path });
      assert.ok([400, 404].includes(answer.status), `${path}: ${answer.status}`);
      const text = answer.text();
      assert.doesNotMatch(text, /root:|"name": "wharf"|<div id="root">/, path);
    }
  });
});

describe('web UI switched off', () => {
  let wharf: WharfProcess;

  before(async () => {
    wharf = await startWharf({ env: { REGISTRY_UI_ENABLED: 'false' } });
  });

  after(async () => {
    await wharf?.close();
  });

  it('answers / and /ui/ with 404 and the registry as before', async () => {
    for (const path of ['/', '/ui/', '/ui/projects/team', '/api/v1/session']) {
      const answer = await send(`${wharf.url}${path}`);
      assert.equal(answer.status, 404, path);
    }
    assert.equal((await send(`${wharf.url}/v2/`)).status, 200);
  });
});
