import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CountingForwarder, startCountingForwarder } from '../helpers/counting-forwarder.ts';
import { MediaType, send } from '../helpers/http.ts';
import { type BuiltImage, buildImageLayout } from '../helpers/images.ts';
import { listCatalog } from '../helpers/push.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const accept = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList].join(
  ', ',
);

/**
 * HEAD on a manifest the cache does not hold, against CNCF Distribution as the upstream (counted
 * by a forwarder in front of it): the upstream is asked with a HEAD, not a GET, and nothing is
 * cached; a GET afterwards caches as usual.
 */
describe('HEAD on a proxied manifest not cached yet', () => {
  let work: string;
  let upstream: ReferenceRegistry;
  let forwarder: CountingForwarder;
  let wharf: WharfProcess;
  let image: BuiltImage;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-proxy-head-'));
    upstream = await startReferenceRegistry();
    forwarder = await startCountingForwarder(upstream.url);
    wharf = await startWharf({ env: { REGISTRY_PROXY_REMOTEURL: forwarder.url, REGISTRY_PROXY_TTL: '1h' } });
    const layout = join(work, 'source');
    image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [{ files: { 'etc/motd': 'asked about, not pulled\n' } }],
    });
    await skopeo(['copy', '--format', 'oci', `oci:${layout}:v1`, `docker://${upstream.host}/team/app:v1`]);
  });

  after(async () => {
    await wharf?.close();
    await forwarder?.close();
    await upstream?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const manifestRequests = (method: string) => forwarder.count(method, /\/manifests\//);
  const head = (reference: string) =>
    send(`${wharf.url}/v2/team/app/manifests/${reference}`, { method: 'HEAD', headers: { accept } });

  it('asks the upstream with a HEAD for a tag and caches nothing', async () => {
    const answer = await head('v1');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('docker-content-digest'), image.manifest.digest);
    assert.equal(answer.headers.get('content-type'), image.manifest.mediaType);
    assert.equal(Number(answer.headers.get('content-length')), image.manifest.size);
    assert.equal(answer.body.length, 0);
    assert.equal(manifestRequests('HEAD'), 1);
    assert.equal(manifestRequests('GET'), 0);
    await sleep(300);
    assert.equal(forwarder.count('GET', /\/blobs\//), 0, 'no blob is fetched');
    assert.ok(!(await listCatalog(wharf.url)).includes('team/app'), 'nothing is stored');
  });

  it('asks the upstream with a HEAD for a digest', async () => {
    const answer = await head(image.manifest.digest);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('docker-content-digest'), image.manifest.digest);
    assert.equal(manifestRequests('HEAD'), 2);
    assert.equal(manifestRequests('GET'), 0);
  });

  it('answers 404 for a tag the upstream does not have, after one HEAD', async () => {
    const answer = await head('missing');
    assert.equal(answer.status, 404);
    assert.equal(manifestRequests('HEAD'), 3);
    assert.equal(manifestRequests('GET'), 0);
  });

  it('caches on GET as before, and then answers HEAD from the cache', async () => {
    const pulled = await send(`${wharf.url}/v2/team/app/manifests/v1`, { headers: { accept } });
    assert.equal(pulled.status, 200);
    assert.equal(manifestRequests('GET'), 1);
    const deadline = Date.now() + 20_000;
    while (!(await listCatalog(wharf.url)).includes('team/app')) {
      assert.ok(Date.now() < deadline, 'the image is stored');
      await sleep(50);
    }
    const before = forwarder.requests.length;
    const answer = await head('v1');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('docker-content-digest'), image.manifest.digest);
    assert.equal(forwarder.requests.length, before, 'within the TTL the upstream is not asked');
  });
});
