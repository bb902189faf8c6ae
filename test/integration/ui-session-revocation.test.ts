import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  api,
  basic,
  type Credentials,
  createProject,
  createRobot,
  createUser,
  pushImageAs,
  writeHtpasswd,
} from '../helpers/auth.ts';
import { type HttpResult, send } from '../helpers/http.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const csrf = { 'x-wharf-csrf': '1' };

/** Signs in through the UI's endpoint and returns the cookie as a browser would send it back. */
async function signIn(wharf: WharfProcess, who: Credentials): Promise<string> {
  const answer = await send(`${wharf.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...csrf },
    body: JSON.stringify(who),
  });
  assert.equal(answer.status, 200, `sign in as ${who.username}: ${answer.text()}`);
  const cookie = /^(wharf_session=[^;]*)/.exec(answer.headers.get('set-cookie') ?? '')?.[1];
  assert.ok(cookie, 'a session cookie');
  return cookie;
}

function withCookie(wharf: WharfProcess, path: string, cookie: string): Promise<HttpResult> {
  return send(`${wharf.url}${path}`, { headers: { cookie, ...csrf } });
}

/**
 * Asks until `wanted` holds, for at most `limitMs` (well past the per-instance lookup cache of
 * 3 s), and returns how long that took.
 */
async function until(what: string, wanted: () => Promise<boolean>, limitMs = 8_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await wanted()) return Date.now() - start;
    assert.ok(Date.now() - start < limitMs, `${what} within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The 401 of an ended session: no browser challenge, and the cookie cleared. */
function assertSessionEnded(answer: HttpResult): void {
  assert.equal(answer.status, 401, answer.text());
  assert.equal(answer.json<{ errors: { code: string }[] }>().errors[0]?.code, 'UNAUTHORIZED');
  assert.equal(answer.headers.get('www-authenticate'), null);
  assert.match(answer.headers.get('set-cookie') ?? '', /^wharf_session=;.*Max-Age=0/);
}

describe('web UI sessions follow local users and robots', () => {
  const admin: Credentials = { username: 'admin', password: 'revoke-admin-password-1' };
  let wharf: WharfProcess;

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    await createProject(wharf.url, admin, 'team', true);
    await pushImageAs(wharf.url, 'team/app', '1.0', basic(admin.username, admin.password));
  });

  after(async () => {
    await wharf?.close();
  });

  it('ends the session of a deleted user at its next request', async () => {
    const eve: Credentials = { username: 'eve', password: 'eve-password-1' };
    await createUser(wharf.url, admin, eve);
    const cookie = await signIn(wharf, eve);
    const current = await withCookie(wharf, '/api/v1/users/current', cookie);
    assert.equal(current.status, 200, current.text());

    assert.equal((await api(wharf.url, 'DELETE', '/users/eve', { as: admin })).status, 204);
    // The instance that made the change forgets what it cached about the account at once.
    assertSessionEnded(await withCookie(wharf, '/api/v1/users/current', cookie));
    const catalog = await withCookie(wharf, '/v2/_catalog', cookie);
    assertSessionEnded(catalog);
    const session = await withCookie(wharf, '/api/v1/session', cookie);
    assert.equal(session.status, 200, 'the UI asks who is signed in, and is told nobody');
    assert.equal(session.json<{ user: unknown }>().user, null);
    assert.match(session.headers.get('set-cookie') ?? '', /^wharf_session=;/);
  });

  it('takes administration away from a demoted administrator at once', async () => {
    const dora: Credentials = { username: 'dora', password: 'dora-password-1' };
    await createUser(wharf.url, admin, { ...dora, admin: true });
    const cookie = await signIn(wharf, dora);
    assert.equal((await withCookie(wharf, '/api/v1/users', cookie)).status, 200);

    const demoted = await api(wharf.url, 'PATCH', '/users/dora', { as: admin, body: { admin: false } });
    assert.equal(demoted.status, 200, demoted.text());
    assert.equal((await withCookie(wharf, '/api/v1/users', cookie)).status, 403, 'the demoted user is denied');
    const session = await withCookie(wharf, '/api/v1/session', cookie);
    assert.deepEqual(session.json<{ user: unknown }>().user, { name: 'dora', admin: false });
    assert.equal((await withCookie(wharf, '/api/v1/users/current', cookie)).status, 200, 'still signed in');
  });

  it('ends the session of a disabled user, and of one whose password changed', async () => {
    const frank: Credentials = { username: 'frank', password: 'frank-password-1' };
    const grace: Credentials = { username: 'grace', password: 'grace-password-1' };
    await createUser(wharf.url, admin, frank);
    await createUser(wharf.url, admin, grace);
    const frankCookie = await signIn(wharf, frank);
    const graceCookie = await signIn(wharf, grace);
    assert.equal((await withCookie(wharf, '/api/v1/users/current', frankCookie)).status, 200);
    assert.equal((await withCookie(wharf, '/api/v1/users/current', graceCookie)).status, 200);

    const disabled = await api(wharf.url, 'PATCH', '/users/frank', { as: admin, body: { disabled: true } });
    assert.equal(disabled.status, 200, disabled.text());
    const changed = await api(wharf.url, 'PATCH', '/users/grace', {
      as: admin,
      body: { password: 'grace-password-2' },
    });
    assert.equal(changed.status, 200, changed.text());
    for (const cookie of [frankCookie, graceCookie]) {
      assertSessionEnded(await withCookie(wharf, '/api/v1/users/current', cookie));
    }
    const renewed = await signIn(wharf, { username: 'grace', password: 'grace-password-2' });
    assert.equal((await withCookie(wharf, '/api/v1/users/current', renewed)).status, 200, 'a new sign-in works');
  });

  it('ends the session of a deleted robot', async () => {
    const robot = await createRobot(wharf.url, admin, 'team', 'ui', ['pull']);
    const cookie = await signIn(wharf, robot);
    const tags = await withCookie(wharf, '/v2/team/app/tags/list', cookie);
    assert.equal(tags.status, 200, tags.text());
    assert.equal((await api(wharf.url, 'DELETE', '/projects/team/robots/ui', { as: admin })).status, 204);
    await until('the deleted robot is refused', async () => {
      const answer = await withCookie(wharf, '/v2/team/app/tags/list', cookie);
      return answer.status === 401;
    });
  });

  it('keeps the session of an account that did not change', async () => {
    const cookie = await signIn(wharf, admin);
    for (const path of ['/api/v1/users', '/api/v1/projects', '/v2/_catalog']) {
      const answer = await withCookie(wharf, path, cookie);
      assert.equal(answer.status, 200, `${path}: ${answer.text()}`);
    }
    const session = await withCookie(wharf, '/api/v1/session', cookie);
    assert.deepEqual(session.json<{ user: unknown }>().user, { name: 'admin', admin: true });
  });
});

describe('web UI sessions follow the htpasswd file', () => {
  const alice: Credentials = { username: 'alice', password: 'alice-password' };
  const bob: Credentials = { username: 'bob', password: 'bob-password' };
  const carol: Credentials = { username: 'carol', password: 'carol-password' };
  let wharf: WharfProcess;
  let work: string;
  let path: string;
  let fresh: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-ui-revoke-'));
    path = join(work, 'htpasswd');
    fresh = join(work, 'new-lines');
    await writeHtpasswd(path, [alice, bob, carol]);
    wharf = await startWharf({ configYaml: `auth:\n  htpasswd:\n    realm: Wharf\n    path: ${path}\n` });
  });

  after(async () => {
    await wharf?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('ends the session of a removed line and of a changed password, and keeps the others', async () => {
    const cookies = {
      alice: await signIn(wharf, alice),
      bob: await signIn(wharf, bob),
      carol: await signIn(wharf, carol),
    };
    for (const cookie of Object.values(cookies)) {
      assert.equal((await withCookie(wharf, '/v2/_catalog', cookie)).status, 200);
    }

    // Carol's line stays as it was, byte for byte; Bob's goes; Alice's gets a new password.
    const lines = (await readFile(path, 'utf8')).split('\n').filter((line) => line.startsWith('carol:'));
    await writeHtpasswd(fresh, [{ ...alice, password: 'alice-new-password' }]);
    await writeFile(path, `${lines.join('\n')}\n${await readFile(fresh, 'utf8')}`);
    for (const cookie of [cookies.alice, cookies.bob]) {
      await until('the session ends', async () => (await withCookie(wharf, '/v2/_catalog', cookie)).status === 401);
    }
    assertSessionEnded(await withCookie(wharf, '/v2/_catalog', cookies.bob));
    assert.equal((await withCookie(wharf, '/v2/_catalog', cookies.carol)).status, 200, 'an unchanged line keeps it');
    const renewed = await signIn(wharf, { ...alice, password: 'alice-new-password' });
    assert.equal((await withCookie(wharf, '/v2/_catalog', renewed)).status, 200);
  });
});
