import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerErrorHandler } from '../../src/http/error-handler.ts';
import { loadUiFiles } from '../../src/http/ui/ui-files.ts';
import { registerUiRoutes } from '../../src/http/ui/ui-routes.ts';

describe('web UI files', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-ui-files-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function appWith(directory: string): Promise<FastifyInstance> {
    const app = Fastify();
    registerErrorHandler(app);
    registerUiRoutes(app, await loadUiFiles(directory));
    return app;
  }

  it('without a build, answers / and /ui/ with a page saying how to build it', async () => {
    const app = await appWith(join(dir, 'missing'));
    for (const url of ['/', '/ui/', '/ui/projects/team']) {
      const page = await app.inject({ url });
      assert.equal(page.statusCode, 503, url);
      assert.match(page.headers['content-type'] as string, /^text\/html/, url);
      assert.match(page.body, /npm run build/, url);
      assert.equal(page.headers['cache-control'], 'no-store', url);
    }
  });

  it('loads only files of known types, and only a build with index.html', async () => {
    const build = join(dir, 'build');
    await mkdir(join(build, 'assets'), { recursive: true });
    await writeFile(join(build, 'assets', 'app-abc123.js'), 'console.log(1)\n'.repeat(100));
    await writeFile(join(build, 'secret.key'), 'not served');
    assert.equal(await loadUiFiles(build), undefined, 'no index.html: no build');
    await writeFile(join(build, 'index.html'), '<!doctype html><div id="root"></div>');
    const files = await loadUiFiles(build);
    assert.deepEqual([...(files?.keys() ?? [])].sort(), ['assets/app-abc123.js', 'index.html']);
    assert.ok(files?.get('assets/app-abc123.js')?.gzipped, 'repetitive text is kept gzipped too');

    const app = await appWith(build);
    assert.equal((await app.inject({ url: '/ui/secret.key' })).statusCode, 404);
    const script = await app.inject({ url: '/ui/assets/app-abc123.js', headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(script.statusCode, 200);
    assert.equal(script.headers['content-encoding'], 'gzip');
    assert.equal(script.headers.vary, 'Accept-Encoding');
  });
});
