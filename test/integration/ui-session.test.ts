import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basic, type Credentials, createProject, pushImageAs, writeHtpasswd } from '../helpers/auth.ts';
import { type HttpResult, send } from '../helpers/http.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const csrf = { 'x-wharf-csrf': '1' };

function signIn(wharf: WharfProcess, username: string, password: string, headers: Record<string, string> = csrf) {
  return send(`${wharf.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ username, password }),
  });
}

/** `wharf_session=…` from a Set-Cookie, as a browser would send it back. */
function sessionCookie(answer: HttpResult): string {
  const cookie = /^(wharf_session=[^;]*)/.exec(answer.headers.get('set-cookie') ?? '')?.[1];
  assert.ok(cookie, `a session cookie in ${answer.headers.get('set-cookie')}`);
  return cookie;
}

function errorCode(answer: HttpResult): string | undefined {
  return answer.json<{ errors: { code: string }[] }>().errors[0]?.code;
}

describe('web UI sign-in (projects mode, local users)', () => {
  const admin: Credentials = { username: 'admin', password: 'ui-admin-password-1' };
  let wharf: WharfProcess;
  let cookie = '';

  before(async () => {
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      configYaml: ['auth:', '  projects:', '    enabled: true', '  lockout:', '    attempts: 3'].join('\n'),
    });
    await createProject(wharf.url, admin, 'team');
    await pushImageAs(wharf.url, 'team/app', '1.0', basic(admin.username, admin.password));
  });

  after(async () => {
    await wharf?.close();
  });

  it('tells an anonymous caller that authentication is on', async () => {
    const session = await send(`${wharf.url}/api/v1/session`);
    assert.equal(session.status, 200);
    assert.equal(session.headers.get('cache-control'), 'no-store');
    assert.deepEqual(session.json(), { auth_enabled: true, projects: true, delete_enabled: true, user: null });
  });

  it('refuses a sign-in without the CSRF header, or with a body that is not JSON', async () => {
    const refused = await signIn(wharf, admin.username, admin.password, {});
    assert.equal(refused.status, 403);
    assert.equal(errorCode(refused), 'DENIED');
    assert.equal(refused.headers.get('set-cookie'), null);
    const form = await send(`${wharf.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...csrf },
      body: `username=${admin.username}&password=${admin.password}`,
    });
    assert.equal(form.status, 415);
  });

  it('refuses a wrong password without a browser challenge, and sets no cookie', async () => {
    const refused = await signIn(wharf, admin.username, 'wrong-password');
    assert.equal(refused.status, 401);
    assert.equal(errorCode(refused), 'UNAUTHORIZED');
    assert.equal(refused.headers.get('www-authenticate'), null);
    assert.equal(refused.headers.get('set-cookie'), null);
  });

  it('signs in with an HttpOnly, SameSite=Strict cookie that the APIs accept', async () => {
    const signed = await signIn(wharf, admin.username, admin.password);
    assert.equal(signed.status, 200, signed.text());
    assert.deepEqual(signed.json<{ user: unknown }>().user, { name: 'admin', admin: true });
    const attributes = (signed.headers.get('set-cookie') ?? '').split(';').map((part) => part.trim());
    for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=28800']) {
      assert.ok(attributes.includes(attribute), `${attribute} in ${attributes.join('; ')}`);
    }
    assert.ok(!attributes.includes('Secure'), 'no Secure over plain HTTP');
    cookie = sessionCookie(signed);

    const session = await send(`${wharf.url}/api/v1/session`, { headers: { cookie } });
    assert.deepEqual(session.json<{ user: unknown }>().user, { name: 'admin', admin: true });
    const projects = await send(`${wharf.url}/api/v1/projects`, { headers: { cookie } });
    assert.equal(projects.status, 200);
    assert.deepEqual(
      projects.json<{ name: string }[]>().map((project) => project.name),
      ['team'],
    );
    const catalog = await send(`${wharf.url}/v2/_catalog`, { headers: { cookie } });
    assert.equal(catalog.status, 200);
    assert.deepEqual(catalog.json(), { repositories: ['team/app'] });
  });

  it('requires the CSRF header for changes made with the cookie', async () => {
    const refused = await send(`${wharf.url}/v2/team/app/manifests/1.0`, { method: 'DELETE', headers: { cookie } });
    assert.equal(refused.status, 403);
    assert.equal(errorCode(refused), 'DENIED');
    const created = await send(`${wharf.url}/api/v1/projects`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'forged' }),
    });
    assert.equal(created.status, 403);
    const tags = await send(`${wharf.url}/v2/team/app/tags/list`, { headers: { cookie } });
    assert.deepEqual(tags.json(), { name: 'team/app', tags: ['1.0'] });

    const deleted = await send(`${wharf.url}/v2/team/app/manifests/1.0`, {
      method: 'DELETE',
      headers: { cookie, ...csrf },
    });
    assert.equal(deleted.status, 202, deleted.text());
  });

  it('treats an altered cookie as no cookie', async () => {
    const altered = cookie.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));
    const session = await send(`${wharf.url}/api/v1/session`, { headers: { cookie: altered } });
    assert.equal(session.json<{ user: unknown }>().user, null);
    const denied = await send(`${wharf.url}/api/v1/projects`, {
      method: 'POST',
      headers: { cookie: altered, 'content-type': 'application/json', ...csrf },
      body: JSON.stringify({ name: 'forged' }),
    });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('www-authenticate'), null, 'no browser dialog for the UI');
  });

  it('signs out by clearing the cookie, and only with the CSRF header', async () => {
    const refused = await send(`${wharf.url}/api/v1/session`, { method: 'DELETE', headers: { cookie } });
    assert.equal(refused.status, 403);
    const out = await send(`${wharf.url}/api/v1/session`, { method: 'DELETE', headers: { cookie, ...csrf } });
    assert.equal(out.status, 204);
    const cleared = out.headers.get('set-cookie') ?? '';
    assert.match(cleared, /^wharf_session=;/);
    assert.match(cleared, /Max-Age=0/);
  });

  it('counts failed sign-ins toward the lockout and records them in the audit log', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      assert.equal((await signIn(wharf, 'mallory', `guess-${attempt}`)).status, 401);
    }
    const locked = await signIn(wharf, 'mallory', 'guess-3');
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);

    const log = await send(`${wharf.url}/api/v1/audit-logs?action=login&actor=mallory&page_size=100`, {
      headers: { authorization: basic(admin.username, admin.password) },
    });
    assert.equal(log.status, 200, log.text());
    const entries = log.json<{ outcome: string; route?: string; detail?: { method?: string; reason?: string } }[]>();
    assert.equal(entries.length, 4, JSON.stringify(entries));
    assert.ok(entries.every((entry) => entry.outcome === 'failure' && entry.detail?.method === 'password'));
    assert.deepEqual(entries.map((entry) => entry.detail?.reason).sort(), [
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
      'locked_out',
    ]);
  });
});

describe('web UI sign-in (htpasswd)', () => {
  let wharf: WharfProcess;
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-ui-htpasswd-'));
    await writeHtpasswd(join(work, 'htpasswd'), [{ username: 'alice', password: 'alice-password' }]);
    wharf = await startWharf({
      configYaml: `auth:\n  htpasswd:\n    realm: Wharf\n    path: ${join(work, 'htpasswd')}\n`,
    });
  });

  after(async () => {
    await wharf?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('signs in against the htpasswd file; /v2/ accepts the cookie', async () => {
    const anonymous = await send(`${wharf.url}/v2/_catalog`, { headers: csrf });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), null, 'no browser dialog for the UI');
    const plain = await send(`${wharf.url}/v2/_catalog`);
    assert.match(plain.headers.get('www-authenticate') ?? '', /^Basic /, 'clients still get their challenge');

    assert.equal((await signIn(wharf, 'alice', 'wrong')).status, 401);
    const signed = await signIn(wharf, 'alice', 'alice-password');
    assert.equal(signed.status, 200, signed.text());
    assert.deepEqual(signed.json(), {
      auth_enabled: true,
      projects: false,
      delete_enabled: true,
      user: { name: 'alice', admin: false },
    });
    const catalog = await send(`${wharf.url}/v2/_catalog`, { headers: { cookie: sessionCookie(signed) } });
    assert.equal(catalog.status, 200);
  });
});

describe('web UI session without authentication', () => {
  let wharf: WharfProcess;

  before(async () => {
    wharf = await startWharf();
  });

  after(async () => {
    await wharf?.close();
  });

  it('needs no sign-in, and offers none', async () => {
    const session = await send(`${wharf.url}/api/v1/session`);
    assert.deepEqual(session.json(), { auth_enabled: false, projects: false, delete_enabled: true, user: null });
    const signIn = await send(`${wharf.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...csrf },
      body: JSON.stringify({ username: 'a', password: 'b' }),
    });
    assert.equal(signIn.status, 405);
  });
});
