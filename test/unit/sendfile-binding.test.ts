import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  defaultAddonPath,
  loadSendfileBinding,
  sendfileSupport,
} from '../../src/storage/filesystem/sendfile-binding.ts';

describe('sendfile addon', () => {
  it('is built by npm ci and loads (required under CI, where the fast path is what gets measured)', (t) => {
    if (process.env.CI !== 'true' && !sendfileSupport().available) {
      return t.skip(`not built here: ${JSON.stringify(sendfileSupport())}`);
    }
    assert.equal(process.platform, 'linux');
    assert.ok(existsSync(defaultAddonPath), `${defaultAddonPath} exists`);
    assert.deepEqual(sendfileSupport(), { available: true });
  });

  it('a missing addon leaves downloads on the buffered path with the reason', () => {
    const loaded = loadSendfileBinding('/nonexistent/wharf_sendfile.node');
    assert.equal(loaded.binding, undefined);
    assert.equal(loaded.support.available, false);
    if (!loaded.support.available) {
      const expected =
        process.platform === 'linux' ? /^cannot load \/nonexistent\/wharf_sendfile\.node: / : /Linux only/;
      assert.match(loaded.support.reason, expected);
    }
  });

  it('a file that is not a loadable addon is refused the same way', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-addon-'));
    try {
      const broken = join(dir, 'wharf_sendfile.node');
      await writeFile(broken, 'not an ELF object');
      const loaded = loadSendfileBinding(broken);
      assert.equal(loaded.binding, undefined);
      assert.equal(loaded.support.available, false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
