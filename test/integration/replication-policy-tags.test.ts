import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MediaType } from '../helpers/http.ts';
import {
  adminApi,
  type ExecutionBody,
  fetchFrom,
  pushTestImage,
  putManifestTo,
  startReplicationWharf,
  type Target,
  waitForExecution,
  wharfTarget,
} from '../helpers/replication.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * A repository with thousands of tags (one image tagged many times, so pushing it is cheap) is
 * replicated by paging through its tags list, a thousand names per request, never asking for it
 * whole. The source is a second Wharf: Distribution 2.8 ignores `n` on tags lists and always
 * answers with the whole list.
 */
const tagCount = 1500;
let source: WharfProcess;
let wharf: WharfProcess;
let remote: Target;

before(async () => {
  source = await startWharf({ env: { REGISTRY_LOG_ACCESSLOG_DISABLED: 'false' } });
  wharf = await startReplicationWharf();
  remote = { url: source.url };
  const image = await pushTestImage(remote, 'many/tags', 'seed');
  const tags = Array.from({ length: tagCount - 1 }, (_, index) => `t${String(index).padStart(5, '0')}`);
  let next = 0;
  const worker = async () => {
    while (next < tags.length) {
      const tag = tags[next++] as string;
      await putManifestTo(remote, 'many/tags', tag, image.manifest, MediaType.ociManifest);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
});

after(async () => {
  await wharf?.close();
  await source?.close();
});

test('a repository with thousands of tags is replicated a page at a time', async () => {
  const endpoint = await adminApi<{ id: number }>(wharf.url, 'POST', '/registries', 201, {
    name: 'distribution',
    url: source.url,
  });
  const policy = await adminApi<{ id: number }>(wharf.url, 'POST', '/replication/policies', 201, {
    name: 'many-tags',
    src_registry: { id: endpoint.body.id },
    filters: [{ type: 'name', value: 'many/tags' }],
    concurrency: 8,
  });
  const started = await adminApi<ExecutionBody>(wharf.url, 'POST', '/replication/executions', 201, {
    policy_id: policy.body.id,
  });
  const done = await waitForExecution(wharf.url, started.body.id, ['succeeded', 'failed', 'stopped'], 120_000);
  assert.equal(done.status, 'succeeded', done.status_text);
  assert.equal(done.total, tagCount);
  assert.equal(done.succeeded, tagCount);

  const local = wharfTarget(wharf);
  const seen: string[] = [];
  let path: string | undefined = '/v2/many/tags/tags/list?n=1000';
  while (path !== undefined) {
    const page = await fetchFrom(local, path);
    assert.equal(page.status, 200);
    seen.push(...page.json<{ tags: string[] }>().tags);
    const link = page.headers.get('link');
    path = link ? /<([^>]+)>/.exec(link)?.[1] : undefined;
  }
  assert.equal(seen.length, tagCount);
  assert.equal(new Set(seen).size, tagCount);

  const listings = source
    .output()
    .split('\n')
    .filter((line) => line.includes('/v2/many/tags/tags/list') && line.includes('wharf-replication'));
  // A full page, then the rest from where its Link pointed.
  assert.equal(listings.length, 2, `the tags were listed a page at a time:\n${listings.join('\n')}`);
  assert.match(listings[0] ?? '', /tags\/list\?n=1000"/);
  assert.match(listings[1] ?? '', /tags\/list\?n=1000&last=t00998"/);
});
