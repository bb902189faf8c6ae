import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BrowserContext, chromium } from 'playwright-core';
import { api, basicOf, type Credentials, createProject, createUser, credsFlag } from '../helpers/auth.ts';
import { send } from '../helpers/http.ts';
import { buildImageLayout } from '../helpers/images.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { ensureWebBuild } from '../helpers/web-build.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const chromiumPath = '/usr/bin/chromium';
// Debian's Chromium, as root, on a machine without outside network: no sandbox, no background traffic.
const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// Under CI a missing browser is a failure (the launch throws), never a skipped test.
const skip = !existsSync(chromiumPath) && process.env.CI !== 'true' ? `${chromiumPath} is not installed` : false;

describe('web UI in Chromium', { skip }, () => {
  const admin: Credentials = { username: 'admin', password: 'browser-admin-password-1' };
  let wharf: WharfProcess;
  let work: string;
  let context: BrowserContext;
  let digest = '';

  before(async () => {
    ensureWebBuild();
    work = await mkdtemp(join(tmpdir(), 'wharf-browser-'));
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    await createProject(wharf.url, admin, 'team');
    const layout = join(work, 'layout');
    const image = await buildImageLayout(layout, { tag: '1.0', layers: [{ files: { 'hello.txt': 'hello\n' } }] });
    digest = image.manifest.digest;
    for (const tag of ['1.0', 'latest']) {
      await skopeo([
        'copy',
        '--dest-creds',
        credsFlag(admin),
        `oci:${layout}:1.0`,
        `docker://${wharf.host}/team/app:${tag}`,
      ]);
    }
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumFlags,
    });
  });

  after(async () => {
    await context?.close();
    await wharf?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('signs in, walks project → repository → artifact, deletes a tag and signs out', async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
    });

    await page.goto(`${wharf.url}/`);
    assert.equal(new URL(page.url()).pathname, '/ui/');
    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'invalid username or password' }).waitFor();

    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'team', exact: true }).click();
    assert.equal(new URL(page.url()).pathname, '/ui/projects/team');
    await page.getByRole('link', { name: 'team/app', exact: true }).click();
    await page.getByRole('link', { name: digest.slice(0, 'sha256:'.length + 12), exact: true }).click();
    const heading = page.getByTestId('artifact-digest');
    await heading.waitFor();
    assert.equal((await heading.textContent())?.trim(), digest);
    assert.equal(await page.getByTestId('pull-command').textContent(), `${wharf.host}/team/app@${digest}`);

    // A reload lands on the same page: the server answers the app's own routes with the app.
    await page.reload();
    await heading.waitFor();
    assert.equal((await heading.textContent())?.trim(), digest);
    await page.locator('.tag', { hasText: 'latest' }).waitFor();

    await page.getByTitle('Delete tag 1.0?').click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('.tag', { hasText: '1.0' }).waitFor({ state: 'detached' });
    const tags = await send(`${wharf.url}/v2/team/app/tags/list`, { headers: { authorization: basicOf(admin) } });
    assert.deepEqual(tags.json(), { name: 'team/app', tags: ['latest'] });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const cookies = await context.cookies(wharf.url);
    assert.deepEqual(
      cookies.filter((cookie) => cookie.name === 'wharf_session' && cookie.value !== ''),
      [],
    );
    assert.deepEqual(problems, []);
  });

  it('shows the sign-in form when the session ends while a page is open', async () => {
    const uma: Credentials = { username: 'uma', password: 'uma-browser-password-1' };
    await createUser(wharf.url, admin, { ...uma, admin: true });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${wharf.url}/ui/`);
    await page.getByLabel('Username').fill(uma.username);
    await page.getByLabel('Password').fill(uma.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const project = page.getByRole('link', { name: 'team', exact: true });
    await project.waitFor();

    const disabled = await api(wharf.url, 'PATCH', '/users/uma', { as: admin, body: { disabled: true } });
    assert.equal(disabled.status, 200, disabled.text());
    await project.click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal(await page.getByText('uma', { exact: true }).count(), 0, 'the header no longer names the user');
  });
});
