import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addMember, api, type Credentials, createProject, createUser } from '../helpers/auth.ts';
import { EventReceiver } from '../helpers/event-receiver.ts';
import { sha256 } from '../helpers/http.ts';
import { firstError, layer, push, runRetention, sizedImage, tryPush } from '../helpers/lifecycle.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * quota.near, quota.exceeded and retention.finished as a CloudEvents receiver gets them from real
 * pushes and retention runs; a refused push's quota.exceeded arrives although the push's own
 * transaction (and its events) rolled back.
 */
const admin: Credentials = { username: 'admin', password: 'lifecycle-events-admin' };
const owner: Credentials = { username: 'owner', password: 'owner-password-1' };
const quotaBytes = 100_000;

interface CloudEvent {
  id: string;
  type: string;
  operator: string;
  data: {
    resources?: { digest: string; tag: string }[];
    repository?: { repo_full_name: string; namespace: string };
    custom_attributes?: Record<string, string>;
  };
}

describe('lifecycle events', () => {
  let receiver: EventReceiver;
  let wharf: WharfProcess;

  const received = (type: string): CloudEvent[] =>
    receiver
      .at('/events')
      .map((delivery) => delivery.json<CloudEvent>())
      .filter((event) => event.type === type);

  before(async () => {
    receiver = await EventReceiver.start();
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: `
auth:
  projects:
    enabled: true
notifications:
  endpoints:
    - name: all
      url: ${receiver.url('/events')}
      format: cloudevents
`,
    });
    await createUser(wharf.url, admin, owner);
    await createProject(wharf.url, admin, 'team');
    await addMember(wharf.url, admin, 'team', owner.username, 'projectAdmin');
    const quota = await api(wharf.url, 'PUT', '/projects/team/quota', { as: admin, body: { bytes: quotaBytes } });
    assert.equal(quota.status, 200, quota.text());
  });

  after(async () => {
    await wharf?.close();
    await receiver?.stop();
  });

  it('announce a push that brings usage to 90% of the quota once, with the usage and the limit', async () => {
    const below = sizedImage([layer(50_000)]);
    await push(wharf.url, 'team/app', 'v1', below, owner);
    const crossing = sizedImage([layer(42_000)]);
    await push(wharf.url, 'team/app', 'v2', crossing, owner);
    await receiver.waitFor(() => received('harbor.quota.warned').length === 1, 'quota.near');
    // Past the threshold already: no second warning.
    await push(wharf.url, 'team/app', 'v3', sizedImage([layer(100)]), owner);
    await receiver.waitFor(
      () => received('harbor.artifact.pushed').some((event) => event.data.resources?.[0]?.tag === 'v3'),
      'the push of v3',
    );
    const [near] = received('harbor.quota.warned');
    assert.equal(received('harbor.quota.warned').length, 1);
    assert.equal(near?.operator, owner.username);
    assert.deepEqual(near?.data.resources?.[0]?.digest, crossing.digest);
    assert.equal(near?.data.repository?.repo_full_name, 'team/app');
    assert.deepEqual(near?.data.custom_attributes, {
      scope: 'project',
      resource: 'bytes',
      used: String(below.bytes + crossing.bytes),
      limit: String(quotaBytes),
    });
  });

  it('announce a blob refused by the quota, though the refused write rolled back', async () => {
    const usage = (await api(wharf.url, 'GET', '/projects/team/quota', { as: owner })).json<{
      used: { bytes: number };
    }>().used.bytes;
    const big = layer(20_000);
    const refused = await tryPush(wharf.url, 'team/big', 'v1', sizedImage([big]), owner);
    assert.equal(refused.status, 403, refused.text());
    assert.equal(firstError(refused).code, 'DENIED');
    await receiver.waitFor(() => received('harbor.quota.exceeded').length === 1, 'quota.exceeded');
    const [exceeded] = received('harbor.quota.exceeded');
    assert.equal(exceeded?.operator, owner.username);
    assert.equal(exceeded?.data.resources?.[0]?.digest, sha256(big));
    assert.equal(exceeded?.data.repository?.repo_full_name, 'team/big');
    assert.deepEqual(exceeded?.data.custom_attributes, {
      scope: 'project',
      resource: 'bytes',
      used: String(usage),
      limit: String(quotaBytes),
      needed: String(big.length),
    });
    // The refused blob's own event went with its transaction.
    assert.equal(
      received('wharf.blob.pushed').some((event) => event.data.resources?.[0]?.digest === sha256(big)),
      false,
    );
  });

  it('announce a manifest refused by the artifact quota', async () => {
    const quota = await api(wharf.url, 'PUT', '/projects/team/quota', {
      as: admin,
      body: { bytes: quotaBytes, artifacts: 3 },
    });
    assert.equal(quota.status, 200, quota.text());
    const image = sizedImage([layer(10)]);
    const refused = await tryPush(wharf.url, 'team/app', 'v4', image, owner);
    assert.equal(refused.status, 403, refused.text());
    await receiver.waitFor(() => received('harbor.quota.exceeded').length === 2, 'the second quota.exceeded');
    const exceeded = received('harbor.quota.exceeded').find(
      (event) => event.data.custom_attributes?.resource === 'artifacts',
    );
    assert.equal(exceeded?.data.resources?.[0]?.digest, image.digest);
    assert.deepEqual(exceeded?.data.custom_attributes, {
      scope: 'project',
      resource: 'artifacts',
      used: '3',
      limit: '3',
      needed: '1',
    });
    assert.equal(
      received('harbor.artifact.pushed').some((event) => event.data.resources?.[0]?.digest === image.digest),
      false,
    );
  });

  it('announce each retention run, dry or not, with its counts', async () => {
    const policy = await api(wharf.url, 'PUT', '/projects/team/retention', {
      as: owner,
      body: { rules: [{ keep: 'latest_pushed', count: 1, repositories: { pattern: 'app' } }] },
    });
    assert.equal(policy.status, 200, policy.text());
    const dry = await runRetention(wharf.url, 'team', owner, true);
    const real = await runRetention(wharf.url, 'team', owner, false);
    assert.equal(real.run.deleted, 2);
    await receiver.waitFor(() => received('harbor.tag_retention.finished').length === 2, 'two retention.finished');
    const byRun = new Map(
      received('harbor.tag_retention.finished').map((event) => [event.data.custom_attributes?.run, event]),
    );
    for (const run of [dry.run, real.run]) {
      const event = byRun.get(String(run.id));
      assert.ok(event, `retention.finished of run ${run.id}`);
      assert.equal(event.operator, owner.username);
      assert.deepEqual(event.data.custom_attributes, {
        project: 'team',
        run: String(run.id),
        trigger: 'manual',
        triggeredBy: owner.username,
        dryRun: String(run.dry_run),
        status: 'succeeded',
        total: '3',
        retained: '1',
        deleted: '2',
        failed: '0',
        bytesFreed: String(run.bytes_freed),
        error: '',
      });
    }
  });
});
