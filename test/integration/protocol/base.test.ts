import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawRequest, send } from '../../helpers/http.ts';
import { startWharf, type WharfProcess } from '../../helpers/wharf.ts';

describe('API version check (end-1)', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWharf();
  });
  after(async () => {
    await wharf?.close();
  });

  it('GET /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
    const result = await send(`${wharf.url}/v2/`);
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  it('HEAD /v2/ answers 200 with the version header and no body', async () => {
    const result = await send(`${wharf.url}/v2/`, { method: 'HEAD' });
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.equal(result.body.length, 0);
  });

  it('the version header is on other /v2 responses too, errors included', async () => {
    const result = await send(`${wharf.url}/v2/base-no-such-repo/tags/list`);
    assert.equal(result.status, 404);
    assert.equal(result.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  it('paths outside the API are 404, not 5xx', async () => {
    for (const path of ['/v3/', '/v2/base-repo/nothing-here', '/v2/base-repo/blobs/', '/v2/base-repo/manifests/']) {
      const result = await rawRequest(wharf.url, { method: 'GET', path });
      assert.ok(result.status >= 400 && result.status < 500, `${path} answered ${result.status}`);
    }
  });

  it('an unsupported method on an API path is a 4xx', async () => {
    const result = await rawRequest(wharf.url, { method: 'POST', path: '/v2/base-repo/tags/list' });
    assert.ok([404, 405].includes(result.status), `POST tags/list answered ${result.status}`);
  });
});
