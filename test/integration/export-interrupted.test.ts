import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CountingForwarder, startCountingForwarder } from '../helpers/counting-forwarder.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { pushTestImage } from '../helpers/replication.ts';

const cliEntry = resolve(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/**
 * `wharf export` stopped by a signal while it writes (the source is CNCF Distribution behind a
 * bandwidth-limited forwarder, so the archive is still being written): the temporary archive is
 * removed and no bundle appears.
 */
describe('an interrupted export', () => {
  let reference: ReferenceRegistry;
  let forwarder: CountingForwarder;
  let work: string;

  before(async () => {
    reference = await startReferenceRegistry();
    await pushTestImage({ url: reference.url }, 'slow/app', 'v1', { layerSizes: [2 * 1024 * 1024] });
    forwarder = await startCountingForwarder(reference.url);
    forwarder.bandwidth = 256 * 1024;
    work = await mkdtemp(join(tmpdir(), 'wharf-export-interrupted-'));
  });

  after(async () => {
    await forwarder?.close();
    await reference?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`removes its partial archive on ${signal}`, async () => {
      const dir = join(work, signal);
      const output = join(dir, 'bundle.tar');
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir);
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', cliEntry, 'export', '--registry', forwarder.url, '-o', output, 'slow/app:v1'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      const deadline = Date.now() + 30_000;
      // Wait until the blob is on its way into the archive.
      while (forwarder.count('GET', /\/blobs\/sha256:/) === 0 || (await readdir(dir)).length === 0) {
        assert.ok(Date.now() < deadline, `the export never started writing: ${stderr}`);
        await sleep(50);
      }
      await sleep(300);
      const during = await readdir(dir);
      assert.ok(
        during.some((name) => name.startsWith('bundle.tar.partial-')),
        `a partial archive while writing: ${during}`,
      );
      child.kill(signal);
      const code = await exited;
      assert.equal(code, signal === 'SIGINT' ? 130 : 143, stderr);
      assert.deepEqual(await readdir(dir), []);
      assert.match(stderr, /interrupted/);
    });
  }
});
