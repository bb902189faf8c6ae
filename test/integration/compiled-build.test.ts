import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildRealFilesImageLayout, layoutBlobs, layoutTag } from '../helpers/images.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const projectRoot = resolve(import.meta.dirname, '..', '..');

/** `npm start` builds dist/ and runs it through bin/wharf.js: the form users run, checked end to end. */
describe('the compiled build', () => {
  let work: string;
  let wharf: WharfProcess;

  before(async () => {
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: projectRoot, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    work = await mkdtemp(join(tmpdir(), 'wharf-compiled-'));
    wharf = await startWharf({ viaLauncher: true });
  });

  after(async () => {
    await wharf?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('is what bin/wharf.js runs once built', () => {
    assert.match(wharf.output(), /listening on .*code=compiled/);
  });

  it('serves a skopeo push and pull byte for byte', async () => {
    const source = join(work, 'source');
    const image = await buildRealFilesImageLayout(source, 'v1');
    await skopeo(['copy', `oci:${source}:v1`, `docker://${wharf.host}/compiled/app:v1`]);
    const pulled = join(work, 'pulled');
    await skopeo(['copy', `docker://${wharf.host}/compiled/app:v1`, `oci:${pulled}:v1`]);
    assert.equal((await layoutTag(pulled, 'v1')).digest, image.manifest.digest);
    const blobs = await layoutBlobs(pulled);
    for (const digest of image.blobDigests) assert.ok(blobs.has(digest), `${digest} pulled back`);
  });

  it('resolves every import of every compiled module, the lazily loaded ones included', () => {
    // cli/main.js is left out because importing it runs the command line; web/ is the browser's bundle.
    const importAll = `
      import { readdirSync } from 'node:fs';
      import { join } from 'node:path';
      const dist = ${JSON.stringify(join(projectRoot, 'dist'))};
      const modules = readdirSync(dist, { recursive: true }).filter(
        (f) => f.endsWith('.js') && f !== join('cli', 'main.js') && !f.startsWith(join('web', '')),
      );
      for (const file of modules) await import(join(dist, file));
      console.log(modules.length);
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', importAll], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(Number(run.stdout) > 100, `imported ${run.stdout.trim()} modules`);
  });

  it('runs each CLI command from dist', () => {
    for (const command of [
      'serve',
      'config',
      'cert',
      'user',
      'db',
      'gc',
      'audit',
      'copy',
      'sync',
      'export',
      'import',
    ]) {
      const help = spawnSync(process.execPath, [join(projectRoot, 'bin', 'wharf.js'), command, '--help'], {
        encoding: 'utf8',
      });
      assert.equal(help.status, 0, `wharf ${command} --help:\n${help.stderr}`);
      assert.match(help.stdout, /Usage: wharf/);
    }
  });
});
