import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gcCounter, gcEnv, report, runWorkload, verifyAll, withOutput } from '../helpers/gc-workload.ts';
import { startWharf } from '../helpers/wharf.ts';

test('acknowledged pushes keep every byte while garbage collection runs continuously', {
  timeout: 120_000,
}, async (t) => {
  const wharf = await startWharf({ env: gcEnv });
  try {
    await withOutput([wharf], async () => {
      const workload = await runWorkload([wharf.url]);
      await verifyAll([wharf.url], workload);
      const deleted = {
        blobs: await gcCounter(wharf.url, 'wharf_gc_blobs_deleted_total'),
        manifests: await gcCounter(wharf.url, 'wharf_gc_manifests_deleted_total'),
      };
      report(t, workload, deleted);
      assert.ok(deleted.blobs > 0, 'the collector deleted blobs during the pushes');
      assert.ok(deleted.manifests > 0, 'the collector deleted untagged manifests');
    });
  } finally {
    await wharf.close();
  }
});
