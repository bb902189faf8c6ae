import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gcCounter, gcEnv, report, runWorkload, verifyAll, withOutput } from '../helpers/gc-workload.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

test('two instances on one PostgreSQL database and one storage collect together without losing a push', {
  timeout: 150_000,
}, async (t) => {
  const postgres = await startPostgres();
  const dataDir = await mkdtemp(join(tmpdir(), 'wharf-gc-two-'));
  const servers: WharfProcess[] = [];
  try {
    const env = { ...gcEnv, REGISTRY_DATABASE_URL: await postgres.createDatabase(), REGISTRY_HTTP_SECRET: 'shared' };
    servers.push(await startWharf({ env, dataDir }));
    servers.push(await startWharf({ env, dataDir }));
    const bases = servers.map((server) => server.url);
    await withOutput(servers, async () => {
      const workload = await runWorkload(bases);
      await verifyAll(bases, workload);
      const deleted = { blobs: 0, manifests: 0 };
      const perInstance: number[] = [];
      for (const base of bases) {
        const blobs = await gcCounter(base, 'wharf_gc_blobs_deleted_total');
        perInstance.push(blobs);
        deleted.blobs += blobs;
        deleted.manifests += await gcCounter(base, 'wharf_gc_manifests_deleted_total');
      }
      report(t, workload, deleted);
      t.diagnostic(`blobs deleted per instance: ${perInstance.join(', ')}`);
      assert.ok(deleted.blobs > 0, 'the collectors deleted blobs during the pushes');
      assert.ok(deleted.manifests > 0, 'the collectors deleted untagged manifests');
    });
  } finally {
    for (const server of servers) await server.stop();
    await rm(dataDir, { recursive: true, force: true });
    await postgres.stop();
  }
});
