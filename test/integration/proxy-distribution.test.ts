import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertSameImage } from '../helpers/auth.ts';
import { type ConnectProxy, startConnectProxy } from '../helpers/connect-proxy.ts';
import { type CountingForwarder, startCountingForwarder } from '../helpers/counting-forwarder.ts';
import { assertError, send } from '../helpers/http.ts';
import { type BuiltImage, buildImageLayout } from '../helpers/images.ts';
import { listCatalog } from '../helpers/push.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Distribution's proxy mode, set the way a registry:2 deployment sets it (REGISTRY_PROXY_REMOTEURL):
 * the whole registry is a pull-through cache of one upstream, and pushes are not supported. The
 * upstream is reached through an HTTP proxy (proxy.upstreamproxy), as from behind a company proxy.
 */
describe('the whole registry as a cache (proxy.remoteurl)', () => {
  let work: string;
  let upstream: ReferenceRegistry;
  let forwarder: CountingForwarder;
  let httpProxy: ConnectProxy;
  let wharf: WharfProcess;
  let image: BuiltImage;
  let layout: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-proxy-distribution-'));
    upstream = await startReferenceRegistry();
    forwarder = await startCountingForwarder(upstream.url);
    httpProxy = await startConnectProxy();
    wharf = await startWharf({
      env: {
        REGISTRY_PROXY_REMOTEURL: forwarder.url,
        REGISTRY_PROXY_TTL: '1h',
        REGISTRY_PROXY_UPSTREAMPROXY: httpProxy.url,
        // Whatever the machine says: the upstream on 127.0.0.1 is reached through the proxy too.
        NO_PROXY: '',
        no_proxy: '',
      },
    });
    layout = join(work, 'source');
    image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [
        { files: { 'etc/motd': 'the whole registry caches this\n' } },
        { files: { 'opt/x': 'q'.repeat(70_000) } },
      ],
    });
    await skopeo(['copy', `oci:${layout}:v1`, `docker://${upstream.host}/team/app:v1`]);
  });

  after(async () => {
    await wharf?.close();
    await httpProxy?.close();
    await forwarder?.close();
    await upstream?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('takes the proxy keys without a warning', () => {
    assert.doesNotMatch(wharf.output(), /proxy.*(not implemented|ignored)/);
    assert.match(wharf.output(), /pull-through cache configured/);
  });

  it('pulls any name from the upstream, then from the cache', async () => {
    const out = join(work, 'pulled');
    await skopeo(['copy', `docker://${wharf.host}/team/app:v1`, `oci:${out}:v1`]);
    await assertSameImage(out, 'v1', image);
    assert.ok(httpProxy.tunnels.length > 0, 'the upstream was reached through the HTTP proxy');
    assert.ok(httpProxy.tunnels.every((target) => target === forwarder.host));
    const deadline = Date.now() + 20_000;
    while (!(await listCatalog(wharf.url)).includes('team/app')) {
      assert.ok(Date.now() < deadline, 'the image is stored');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const seen = forwarder.requests.length;
    const again = join(work, 'again');
    await skopeo(['copy', `docker://${wharf.host}/team/app:v1`, `oci:${again}:v1`]);
    await assertSameImage(again, 'v1', image);
    assert.deepEqual(forwarder.requests.slice(seen), []);
  });

  it('answers pushes with UNSUPPORTED, as Distribution does in proxy mode', async () => {
    const started = await send(`${wharf.url}/v2/team/mine/blobs/uploads/`, { method: 'POST' });
    assertError(started, 405, 'UNSUPPORTED');
    assert.match(started.text(), /pull-through cache of .*proxy\.remoteurl/);
    const put = await send(`${wharf.url}/v2/team/app/manifests/v2`, {
      method: 'PUT',
      headers: { 'content-type': image.manifest.mediaType },
      body: image.manifestBytes,
    });
    assertError(put, 405, 'UNSUPPORTED');
  });

  it('lists tags from the upstream', async () => {
    const tags = await send(`${wharf.url}/v2/team/app/tags/list`);
    assert.equal(tags.status, 200);
    assert.deepEqual(tags.json(), { name: 'team/app', tags: ['v1'] });
    assertError(await send(`${wharf.url}/v2/nobody/here/tags/list`), 404, 'NAME_UNKNOWN');
  });
});
