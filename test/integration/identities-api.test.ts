import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { AuthServices } from '../../src/auth/auth-services.ts';
import { LocalUserAuthenticator } from '../../src/auth/identities/local-user-authenticator.ts';
import { LocalUsers } from '../../src/auth/identities/local-users.ts';
import { MemoryLoginLimiter } from '../../src/auth/identities/login-limiter.ts';
import { RobotAuthenticator } from '../../src/auth/identities/robot-authenticator.ts';
import { Robots } from '../../src/auth/identities/robots.ts';
import { authenticatedAuthorizer } from '../../src/auth/simple-authorizers.ts';
import { registerUserRoutes } from '../../src/http/api/users-routes.ts';
import { AccessControl } from '../../src/http/auth/access-control.ts';
import { registerErrorHandler } from '../../src/http/error-handler.ts';
import { IdentityStore } from '../../src/metadata/identity-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import type { Database } from '../../src/metadata/schema.ts';

/**
 * The user routes on a real Fastify server, with the registry's body handling (bodies left unread),
 * error mapping and Basic authentication over the robot and local-user authenticators.
 */
describe('users API', () => {
  let dir: string;
  let db: Kysely<Database>;
  let app: FastifyInstance;
  let base: string;
  let users: LocalUsers;
  let robotSecret: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-users-api-'));
    db = await openSqlite(join(dir, 'wharf.db'));
    const store = new IdentityStore(db);
    users = new LocalUsers(store);
    const robots = new Robots(store);
    await users.create({ username: 'root', password: 'root-password', admin: true });
    await users.create({ username: 'bob', password: 'bob-password', email: 'bob@example.com' });
    robotSecret = (
      await robots.create({
        project: 'team',
        name: 'ci',
        permissions: [{ project: 'team', actions: ['pull'] }],
        createdBy: 'root',
      })
    ).secret;
    const limiter = new MemoryLoginLimiter({ attempts: 3, windowMs: 60_000, durationMs: 60_000 });
    const auth: AuthServices = {
      enabled: true,
      chain: [new RobotAuthenticator(robots), new LocalUserAuthenticator(users)],
      basic: true,
      authorizer: authenticatedAuthorizer(false),
      tokens: undefined,
      limiter,
      challenge: { scheme: 'basic', realm: 'Wharf' },
    };
    const access = new AccessControl(auth);
    app = Fastify();
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null));
    registerErrorHandler(app);
    registerUserRoutes(app, {
      users,
      identify: (request) => access.identify(request),
      unauthorized: (message) => access.unauthorized(message, []),
      limiter,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(address !== null && typeof address === 'object');
    base = `http://127.0.0.1:${address.port}/api/v1`;
  });

  after(async () => {
    await app.close();
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const root = basic('root', 'root-password');

  async function call(
    method: string,
    path: string,
    options: { auth?: string; json?: unknown; body?: string } = {},
  ): Promise<{ status: number; headers: Headers; body: Record<string, unknown> & { errors?: { code: string }[] } }> {
    const headers: Record<string, string> = {};
    if (options.auth) headers.authorization = options.auth;
    let body: string | undefined = options.body;
    if (options.json !== undefined) body = JSON.stringify(options.json);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${base}${path}`, { method, headers, body });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? {} : JSON.parse(text) };
  }

  function errorCode(result: { body: { errors?: { code: string }[] } }): string | undefined {
    return result.body.errors?.[0]?.code;
  }

  test('anonymous callers get 401 with the Basic challenge; non-administrators 403', async () => {
    const anonymous = await call('GET', '/users');
    assert.equal(anonymous.status, 401);
    assert.equal(errorCode(anonymous), 'UNAUTHORIZED');
    assert.equal(anonymous.headers.get('www-authenticate'), 'Basic realm="Wharf"');
    const wrong = await call('GET', '/users', { auth: basic('bob', 'nope') });
    assert.equal(wrong.status, 401);
    for (const [method, path] of [
      ['GET', '/users'],
      ['GET', '/users/root'],
      ['PATCH', '/users/root'],
      ['DELETE', '/users/root'],
    ] as const) {
      const denied = await call(method, path, {
        auth: basic('bob', 'bob-password'),
        json: method === 'PATCH' ? { admin: false } : undefined,
      });
      assert.equal(denied.status, 403, `${method} ${path}`);
      assert.equal(errorCode(denied), 'DENIED');
    }
    const robot = await call('POST', '/users', {
      auth: basic('robot$team+ci', robotSecret),
      json: { username: 'evil', password: 'evil-password' },
    });
    assert.equal(robot.status, 403);
  });

  test('administrators list users, paged, without password hashes', async () => {
    const listed = await call('GET', '/users?page=1&page_size=1', { auth: root });
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get('x-total-count'), String((await users.list()).length));
    assert.match(listed.headers.get('link') ?? '', /rel="next"/);
    const all = await call('GET', '/users?page_size=100', { auth: root });
    const body = all.body as unknown as Record<string, unknown>[];
    const bob = body.find((user) => user.username === 'bob');
    assert.deepEqual(Object.keys(bob ?? {}).sort(), [
      'admin',
      'created_at',
      'disabled',
      'email',
      'has_password',
      'password_changed_at',
      'source',
      'updated_at',
      'user_id',
      'username',
    ]);
    assert.equal(bob?.email, 'bob@example.com');
    assert.match(String(bob?.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(!JSON.stringify(body).includes('argon2'));
  });

  test('create: 201 with Location; 409 for a taken name; 400 for bad input', async () => {
    const created = await call('POST', '/users', {
      auth: root,
      json: { username: 'carol', password: 'carol-password', email: 'carol@example.com' },
    });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), '/api/v1/users/carol');
    assert.equal(created.body.username, 'carol');
    assert.equal(created.body.admin, false);
    assert.equal((await users.verifyPassword('carol', 'carol-password')).outcome, 'valid');

    const taken = await call('POST', '/users', { auth: root, json: { username: 'carol', password: 'other-pass' } });
    assert.equal(taken.status, 409);
    assert.equal(errorCode(taken), 'DENIED');

    for (const json of [
      { username: 'Carol', password: 'carol-password' },
      { username: 'dan', password: 'short' },
      { username: 'dan', password: 'dan-password', email: 'not an email' },
      { username: 'dan', password: 'dan-password', role: 'admin' },
      { username: 'dan' },
    ]) {
      const refused = await call('POST', '/users', { auth: root, json });
      assert.equal(refused.status, 400, JSON.stringify(json));
      assert.equal(errorCode(refused), 'UNSUPPORTED');
    }
    const malformed = await call('POST', '/users', { auth: root, body: '{"username":' });
    assert.equal(malformed.status, 400);
    const huge = await call('POST', '/users', {
      auth: root,
      json: { username: 'dan', password: 'x'.repeat(70 * 1024) },
    });
    assert.equal(huge.status, 413);
    assert.equal(errorCode(huge), 'SIZE_INVALID');
    assert.equal(await users.find('dan'), undefined);
  });

  test('get, patch and delete one user', async () => {
    await users.create({ username: 'erin', password: 'erin-password' });
    const got = await call('GET', '/users/erin', { auth: root });
    assert.equal(got.status, 200);
    assert.equal(got.body.username, 'erin');
    const missing = await call('GET', '/users/ghost', { auth: root });
    assert.equal(missing.status, 404);
    assert.equal(errorCode(missing), 'NAME_UNKNOWN');

    const patched = await call('PATCH', '/users/erin', {
      auth: root,
      json: { disabled: true, email: 'erin@example.com', password: 'erin-password-2' },
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.disabled, true);
    assert.equal(patched.body.email, 'erin@example.com');
    const disabledLogin = await call('GET', '/users/current', { auth: basic('erin', 'erin-password-2') });
    assert.equal(disabledLogin.status, 401);
    const nothing = await call('PATCH', '/users/erin', { auth: root, json: {} });
    assert.equal(nothing.status, 400);

    const deleted = await call('DELETE', '/users/erin', { auth: root });
    assert.equal(deleted.status, 204);
    assert.equal((await call('DELETE', '/users/erin', { auth: root })).status, 404);
  });

  test('administrators cannot delete or disable themselves, nor remove the last administrator', async () => {
    const self = await call('DELETE', '/users/root', { auth: root });
    assert.equal(self.status, 403);
    assert.equal((await call('PATCH', '/users/root', { auth: root, json: { disabled: true } })).status, 403);
    const demote = await call('PATCH', '/users/root', { auth: root, json: { admin: false } });
    assert.equal(demote.status, 409);
    assert.equal(errorCode(demote), 'DENIED');
  });

  test('current user: local and robot callers', async () => {
    const bob = await call('GET', '/users/current', { auth: basic('bob', 'bob-password') });
    assert.equal(bob.status, 200);
    assert.deepEqual(bob.body, {
      username: 'bob',
      source: 'local',
      admin: false,
      groups: [],
      email: 'bob@example.com',
      can_change_password: true,
    });
    const robot = await call('GET', '/users/current', { auth: basic('robot$team+ci', robotSecret) });
    assert.deepEqual(robot.body, {
      username: 'robot$team+ci',
      source: 'robot',
      admin: false,
      groups: [],
      email: null,
      can_change_password: false,
    });
    assert.equal((await call('GET', '/users/current')).status, 401);
  });

  test('changing one’s own password needs the old one; wrong guesses lock it out', async () => {
    await users.create({ username: 'gina', password: 'gina-password' });
    const gina = basic('gina', 'gina-password');
    const wrong = await call('PUT', '/users/current/password', {
      auth: gina,
      json: { old_password: 'not-it', new_password: 'gina-password-2' },
    });
    assert.equal(wrong.status, 403);
    assert.equal(errorCode(wrong), 'DENIED');
    const changed = await call('PUT', '/users/current/password', {
      auth: gina,
      json: { old_password: 'gina-password', new_password: 'gina-password-2' },
    });
    assert.equal(changed.status, 204);
    assert.equal((await users.verifyPassword('gina', 'gina-password-2')).outcome, 'valid');
    const tooShort = await call('PUT', '/users/current/password', {
      auth: basic('gina', 'gina-password-2'),
      json: { old_password: 'gina-password-2', new_password: 'short' },
    });
    assert.equal(tooShort.status, 400);

    const robot = await call('PUT', '/users/current/password', {
      auth: basic('robot$team+ci', robotSecret),
      json: { old_password: 'x', new_password: 'robot-password' },
    });
    assert.equal(robot.status, 403);

    const hank = basic('hank', 'hank-password');
    await users.create({ username: 'hank', password: 'hank-password' });
    for (let i = 0; i < 3; i++) {
      const guess = await call('PUT', '/users/current/password', {
        auth: hank,
        json: { old_password: `guess-${i}`, new_password: 'hank-password-2' },
      });
      assert.equal(guess.status, 403);
    }
    const locked = await call('PUT', '/users/current/password', {
      auth: hank,
      json: { old_password: 'hank-password', new_password: 'hank-password-2' },
    });
    assert.equal(locked.status, 429);
    assert.equal(errorCode(locked), 'TOOMANYREQUESTS');
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
  });
});
