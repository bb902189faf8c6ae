import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, type Credentials, createProject } from '../helpers/auth.ts';
import { EventReceiver } from '../helpers/event-receiver.ts';
import { type BuiltImage, buildImageLayout } from '../helpers/images.ts';
import { assertUsageExact } from '../helpers/lifecycle.ts';
import { startWharf } from '../helpers/wharf.ts';
import { runWharf } from '../helpers/wharf-cli.ts';

/**
 * `wharf import --config` writes into a stopped registry through the same listeners the server
 * has: the project's quota usage counts the import, a quota refuses what does not fit, and the
 * import's events wait in the outbox until the server starts and delivers them.
 */
const admin: Credentials = { username: 'admin', password: 'offline-import-admin' };

interface CloudEvent {
  type: string;
  operator: string;
  data: {
    resources?: { digest: string; tag: string }[];
    repository?: { repo_full_name: string };
    custom_attributes?: Record<string, string>;
  };
}

describe('offline import', () => {
  let work: string;
  let dataDir: string;
  let configYaml: string;
  let configFile: string;
  let receiver: EventReceiver;
  let images: BuiltImage[];
  let layout: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-offline-import-'));
    dataDir = join(work, 'data');
    await mkdir(dataDir, { recursive: true });
    receiver = await EventReceiver.start();
    configYaml = `
storage:
  filesystem:
    rootdirectory: ${dataDir}
database:
  path: ${join(dataDir, 'wharf.db')}
auth:
  projects:
    enabled: true
notifications:
  endpoints:
    - name: all
      url: ${receiver.url('/events')}
      format: cloudevents
`;
    configFile = join(work, 'offline.yml');
    await writeFile(configFile, configYaml);
    layout = join(work, 'layout');
    images = [
      await buildImageLayout(layout, { tag: 'v1', layers: [{ files: { 'app/one': 'one\n' } }] }),
      await buildImageLayout(layout, { tag: 'v2', layers: [{ files: { 'app/two': 'two\n' } }] }),
    ];
  });

  after(async () => {
    await receiver?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const received = (type: string): CloudEvent[] =>
    receiver
      .at('/events')
      .map((delivery) => delivery.json<CloudEvent>())
      .filter((event) => event.type === type);

  it('counts the import in the quota, refuses what exceeds it, and delivers its events once the server runs', async () => {
    const first = await startWharf({ env: { WHARF_ADMIN_PASSWORD: admin.password }, configYaml, dataDir });
    try {
      await createProject(first.url, admin, 'team');
      const quota = await api(first.url, 'PUT', '/projects/team/quota', { as: admin, body: { artifacts: 1 } });
      assert.equal(quota.status, 200, quota.text());
      await receiver.waitFor(() => received('wharf.project.created').length === 1, 'project.created');
    } finally {
      await first.stop();
    }
    const deliveredBefore = receiver.deliveries.length;

    const imported = await runWharf(['import', '--config', configFile, '--tags', 'v1', '--prefix', 'team/app', layout]);
    assert.equal(imported.code, 0, `${imported.stdout}\n${imported.stderr}`);
    const refused = await runWharf(['import', '--config', configFile, '--tags', 'v2', '--prefix', 'team/app', layout]);
    assert.notEqual(refused.code, 0, `${refused.stdout}\n${refused.stderr}`);
    assert.match(`${refused.stdout}\n${refused.stderr}`, /quota exceeded: used 1 of 1 artifacts in project team/);
    assert.equal(receiver.deliveries.length, deliveredBefore, 'nothing is delivered while no server runs');

    const [v1, v2] = images as [BuiltImage, BuiltImage];
    const restarted = await startWharf({ env: { WHARF_ADMIN_PASSWORD: admin.password }, configYaml, dataDir });
    try {
      const usage = await api(restarted.url, 'GET', '/projects/team/quota', { as: admin });
      const bytes = v1.manifest.size + v1.config.size + v1.layers.reduce((sum, layer) => sum + layer.size, 0);
      assert.deepEqual(usage.json(), { limits: { bytes: null, artifacts: 1 }, used: { bytes, artifacts: 1 } });
      await assertUsageExact(restarted.url, admin, 'team');

      await receiver.waitFor(
        () => received('harbor.artifact.pushed').length > 0 && received('harbor.quota.exceeded').length > 0,
        'the offline import events',
      );
      const pushed = received('harbor.artifact.pushed');
      assert.deepEqual(
        pushed.map((event) => [event.data.repository?.repo_full_name, event.data.resources?.[0]?.digest]),
        [['team/app', v1.manifest.digest]],
      );
      const [exceeded] = received('harbor.quota.exceeded');
      assert.equal(exceeded?.data.resources?.[0]?.digest, v2.manifest.digest);
      assert.deepEqual(exceeded?.data.custom_attributes, {
        scope: 'project',
        resource: 'artifacts',
        used: '1',
        limit: '1',
        needed: '1',
      });
    } finally {
      await restarted.stop();
    }
  });
});
