import assert from 'node:assert/strict';
import { test } from 'node:test';
import { report, runWorkload, verifyAll, withOutput } from '../helpers/gc-workload.ts';
import { startWharf } from '../helpers/wharf.ts';
import { runWharf } from '../helpers/wharf-cli.ts';

/**
 * `wharf gc` run over and over, with no grace for uploads, in its own process on the same SQLite
 * database and storage while 20 clients push, delete and retag images that share layers: every push
 * the registry acknowledged must still pull byte for byte.
 */
test('wharf gc beside a serving registry never takes the bytes of an acknowledged push', {
  timeout: 150_000,
}, async (t) => {
  // Only `wharf gc` collects here; the online collector is off.
  const wharf = await startWharf({ env: { REGISTRY_GC_ENABLED: 'false' } });
  try {
    await withOutput([wharf], async () => {
      const env = { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: wharf.dataDir, REGISTRY_LOG_LEVEL: 'warn' };
      let pushing = true;
      const collected = { blobs: 0, manifests: 0, runs: 0 };
      const collector = (async () => {
        while (pushing) {
          const result = await runWharf(['gc', '--delete-untagged', '--upload-grace', '0s'], env);
          assert.equal(result.code, 0, `wharf gc failed:\n${result.stdout}${result.stderr}`);
          collected.runs++;
          collected.blobs += Number(/deleted (\d+) unreferenced blob/.exec(result.stdout)?.[1] ?? 0);
          collected.manifests += Number(/deleted (\d+) untagged manifest/.exec(result.stdout)?.[1] ?? 0);
        }
      })();
      let workload: Awaited<ReturnType<typeof runWorkload>>;
      try {
        workload = await runWorkload([wharf.url]);
      } finally {
        pushing = false;
        await collector;
      }
      await verifyAll([wharf.url], workload);
      t.diagnostic(`${collected.runs} runs of wharf gc`);
      report(t, workload, collected);
    });
  } finally {
    await wharf.close();
  }
});
