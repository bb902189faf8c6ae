import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { authenticateWithChain } from '../../src/auth/authenticator.ts';
import { bootstrapAdmin } from '../../src/auth/identities/bootstrap-admin.ts';
import { LocalUserAuthenticator } from '../../src/auth/identities/local-user-authenticator.ts';
import { LocalUsers } from '../../src/auth/identities/local-users.ts';
import { RobotAuthenticator } from '../../src/auth/identities/robot-authenticator.ts';
import { Robots } from '../../src/auth/identities/robots.ts';
import { IdentityStore } from '../../src/metadata/identity-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import type { Database } from '../../src/metadata/schema.ts';

const context = { remoteAddress: '192.0.2.1' };

let dir: string;
let db: Kysely<Database>;
let store: IdentityStore;
const clock = { now: Date.UTC(2025, 0, 1) };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-identities-'));
  db = await openSqlite(join(dir, 'wharf.db'));
  store = new IdentityStore(db);
});

after(async () => {
  await db.destroy();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await sql`delete from users`.execute(db);
  await sql`delete from robots`.execute(db);
  clock.now = Date.UTC(2025, 0, 1);
});

describe('local users', () => {
  const users = () => new LocalUsers(store, () => clock.now);

  test('create, verify, and never expose the hash', async () => {
    const created = await users().create({ username: 'alice', password: 'correct horse', email: 'a@example.com' });
    assert.deepEqual(created, {
      id: created.id,
      username: 'alice',
      email: 'a@example.com',
      admin: false,
      disabled: false,
      source: 'local',
      hasPassword: true,
      createdAt: clock.now,
      updatedAt: clock.now,
      passwordChangedAt: clock.now,
    });
    const row = await store.findUser('alice');
    assert.match(row?.password_hash ?? '', /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    assert.equal((await users().verifyPassword('alice', 'correct horse')).outcome, 'valid');
    assert.equal((await users().verifyPassword('alice', 'wrong horse')).outcome, 'invalid');
    assert.equal((await users().verifyPassword('nobody', 'correct horse')).outcome, 'absent');
  });

  test('username grammar, duplicate names, password length', async () => {
    await users().create({ username: 'a.b_c-1', password: '12345678' });
    await assert.rejects(users().create({ username: 'a.b_c-1', password: '12345678' }), {
      name: 'IdentityError',
      kind: 'exists',
      message: 'user "a.b_c-1" already exists',
    });
    for (const bad of ['Alice', '', 'x'.repeat(65), 'robot$ci', 'a b', 'a:b', 'current', 'é']) {
      await assert.rejects(users().create({ username: bad, password: '12345678' }), { kind: 'invalid' }, bad);
    }
    await users().create({ username: 'x'.repeat(64), password: '12345678' });
    await assert.rejects(users().create({ username: 'short', password: '1234567' }), {
      kind: 'invalid',
      message: 'a password must have at least 8 characters',
    });
  });

  test('the authenticator: principal, disabled account, unknown user', async () => {
    const authenticator = new LocalUserAuthenticator(users());
    await users().create({ username: 'root', password: 'admin-password', admin: true });
    await users().create({ username: 'bob', password: 'bob-password' });
    assert.deepEqual(await authenticator.authenticate('root', 'admin-password'), {
      outcome: 'authenticated',
      principal: { name: 'root', source: 'local', groups: [], admin: true },
    });
    assert.deepEqual(await authenticator.authenticate('bob', 'nope-nope'), {
      outcome: 'rejected',
      reason: 'wrong password',
    });
    await users().update('bob', { disabled: true });
    assert.deepEqual(await authenticator.authenticate('bob', 'bob-password'), {
      outcome: 'rejected',
      reason: 'account disabled',
    });
    await users().update('bob', { disabled: false });
    assert.equal((await authenticator.authenticate('bob', 'bob-password')).outcome, 'authenticated');
    assert.deepEqual(await authenticator.authenticate('carol', 'whatever'), { outcome: 'unknown' });
  });

  test('a bcrypt hash (imported from htpasswd) is accepted and upgraded to argon2id at login', async () => {
    const time = clock.now;
    await store.insertUser({
      username: 'imported',
      password_hash: bcrypt.hashSync('old-password', 4).replace('$2b$', '$2y$'),
      email: null,
      admin: 0,
      disabled: 0,
      source: 'local',
      cli_secret_hash: null,
      created_at: time,
      updated_at: time,
      password_changed_at: time,
    });
    assert.equal((await users().verifyPassword('imported', 'old-password')).outcome, 'valid');
    assert.match((await store.findUser('imported'))?.password_hash ?? '', /^\$argon2id\$/);
    assert.equal((await users().verifyPassword('imported', 'old-password')).outcome, 'valid');
  });

  test('update and password change; the last enabled administrator is kept', async () => {
    await users().create({ username: 'root', password: 'admin-password', admin: true });
    await assert.rejects(users().update('root', { admin: false }), {
      kind: 'conflict',
      message: '"root" is the last enabled administrator',
    });
    await assert.rejects(users().update('root', { disabled: true }), { kind: 'conflict' });
    await assert.rejects(users().remove('root'), { kind: 'conflict' });
    await users().create({ username: 'second', password: 'second-password', admin: true });
    clock.now += 1000;
    const demoted = await users().update('root', { admin: false, email: 'r@example.com', password: 'new-password' });
    assert.equal(demoted.admin, false);
    assert.equal(demoted.email, 'r@example.com');
    assert.equal(demoted.passwordChangedAt, clock.now);
    assert.equal((await users().verifyPassword('root', 'admin-password')).outcome, 'invalid');
    assert.equal((await users().verifyPassword('root', 'new-password')).outcome, 'valid');
    await users().remove('root');
    assert.equal(await users().find('root'), undefined);
    await assert.rejects(users().remove('root'), { kind: 'not-found', message: 'user "root" not found' });
    await assert.rejects(users().update('ghost', { admin: true }), { kind: 'not-found' });
  });

  test('users created by OIDC: unknown to password login, their password not settable here', async () => {
    const time = clock.now;
    await store.insertUser({
      username: 'jane@example.com',
      password_hash: null,
      email: 'jane@example.com',
      admin: 0,
      disabled: 0,
      source: 'oidc',
      cli_secret_hash: 'sha256:00',
      created_at: time,
      updated_at: time,
      password_changed_at: null,
    });
    const jane = await users().get('jane@example.com');
    assert.equal(jane.source, 'oidc');
    assert.equal(jane.hasPassword, false);
    assert.deepEqual(await new LocalUserAuthenticator(users()).authenticate('jane@example.com', 'sha256:00'), {
      outcome: 'unknown',
    });
    await assert.rejects(users().update('jane@example.com', { password: 'a-new-password' }), {
      kind: 'invalid',
      message: 'the password of oidc user "jane@example.com" is managed by its identity provider',
    });
    assert.equal((await users().update('jane@example.com', { disabled: true })).disabled, true);
  });
});

describe('first administrator', () => {
  const users = () => new LocalUsers(store);

  test('generated when nothing is configured, returned once, usable', async () => {
    const result = await bootstrapAdmin(users(), { env: {} });
    assert.equal(result.created, true);
    assert.ok(result.created && result.passwordSource === 'generated');
    const password = result.created ? (result.password ?? '') : '';
    assert.ok(password.length >= 24);
    assert.equal((await users().verifyPassword('admin', password)).outcome, 'valid');
    assert.equal((await users().get('admin')).admin, true);
    assert.deepEqual(await bootstrapAdmin(users(), { env: {} }), { created: false });
  });

  test('from auth.admin.password, then WHARF_ADMIN_PASSWORD', async () => {
    const fromConfig = await bootstrapAdmin(users(), {
      configuredPassword: 'configured-pw',
      env: { WHARF_ADMIN_PASSWORD: 'environment-pw' },
    });
    assert.deepEqual(fromConfig, { created: true, username: 'admin', passwordSource: 'config' });
    assert.equal((await users().verifyPassword('admin', 'configured-pw')).outcome, 'valid');
    await sql`delete from users`.execute(db);
    const fromEnvironment = await bootstrapAdmin(users(), { env: { WHARF_ADMIN_PASSWORD: 'environment-pw' } });
    assert.deepEqual(fromEnvironment, { created: true, username: 'admin', passwordSource: 'environment' });
    assert.equal((await users().verifyPassword('admin', 'environment-pw')).outcome, 'valid');
  });

  test('nothing happens when any user exists; a too-short configured password is an error', async () => {
    await users().create({ username: 'someone', password: 'someone-pw' });
    assert.deepEqual(await bootstrapAdmin(users(), { configuredPassword: 'configured-pw' }), { created: false });
    await sql`delete from users`.execute(db);
    await assert.rejects(bootstrapAdmin(users(), { configuredPassword: 'short' }), {
      message: 'auth.admin.password: a password must have at least 8 characters',
    });
  });
});

describe('robot accounts', () => {
  const robots = () => new Robots(store, () => clock.now);

  test('create returns the secret once; get and list never do', async () => {
    const { robot, secret } = await robots().create({
      project: 'team',
      name: 'ci',
      description: 'builds',
      permissions: [{ project: 'team', actions: ['pull', 'push'] }],
      createdBy: 'alice',
    });
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(robot, {
      id: robot.id,
      name: 'robot$team+ci',
      project: 'team',
      description: 'builds',
      permissions: [{ project: 'team', actions: ['pull', 'push'] }],
      expiresAt: null,
      disabled: false,
      createdAt: clock.now,
      createdBy: 'alice',
      updatedAt: clock.now,
    });
    const listed = await robots().list('team');
    assert.deepEqual(listed, [robot]);
    assert.ok(!JSON.stringify([listed, await robots().get('robot$team+ci')]).includes(secret));
    assert.match((await store.findRobot('robot$team+ci'))?.secret_hash ?? '', /^\$argon2id\$/);
    assert.deepEqual(await robots().list(null), []);
    await assert.rejects(
      robots().create({
        project: 'team',
        name: 'ci',
        permissions: [{ project: 'team', actions: ['pull'] }],
        createdBy: 'a',
      }),
      { kind: 'exists', message: 'robot account "robot$team+ci" already exists' },
    );
  });

  test('permissions: a project robot only on its project; known actions only', async () => {
    await assert.rejects(
      robots().create({
        project: 'team',
        name: 'x',
        permissions: [{ project: 'other', actions: ['pull'] }],
        createdBy: 'a',
      }),
      { kind: 'invalid', message: 'a robot of project "team" cannot hold permissions on "other"' },
    );
    await assert.rejects(
      robots().create({
        project: 'team',
        name: 'x',
        permissions: [{ project: 'team', actions: ['admin'] }],
        createdBy: 'a',
      }),
      { kind: 'invalid', message: 'unknown action "admin": use pull, push, delete or *' },
    );
    await assert.rejects(robots().create({ project: 'team', name: 'Bad+Name', permissions: [], createdBy: 'a' }), {
      kind: 'invalid',
    });
    const { robot } = await robots().create({
      name: 'mirror',
      permissions: [
        { project: '*', actions: ['pull'] },
        { project: 'team', actions: ['push'] },
        { project: 'team', actions: ['pull', 'push'] },
      ],
      createdBy: 'admin',
    });
    assert.equal(robot.name, 'robot$mirror');
    assert.equal(robot.project, null);
    assert.deepEqual(robot.permissions, [
      { project: '*', actions: ['pull'] },
      { project: 'team', actions: ['push', 'pull'] },
    ]);
    assert.deepEqual(
      (await robots().list(null)).map((each) => each.name),
      ['robot$mirror'],
    );
  });

  test('the authenticator: principal with permissions, wrong secret, disabled, expired, rotated', async () => {
    const authenticator = new RobotAuthenticator(robots());
    const { secret } = await robots().create({
      project: 'team',
      name: 'ci',
      permissions: [{ project: 'team', actions: ['pull'] }],
      expiresAt: clock.now + 3_600_000,
      createdBy: 'alice',
    });
    assert.deepEqual(await authenticator.authenticate('robot$team+ci', secret), {
      outcome: 'authenticated',
      principal: {
        name: 'robot$team+ci',
        source: 'robot',
        groups: [],
        admin: false,
        permissions: [{ project: 'team', actions: ['pull'] }],
      },
    });
    assert.deepEqual(await authenticator.authenticate('robot$team+ci', `${secret}x`), {
      outcome: 'rejected',
      reason: 'wrong secret',
    });
    assert.deepEqual(await authenticator.authenticate('robot$team+nobody', secret), {
      outcome: 'rejected',
      reason: 'unknown robot account',
    });
    assert.deepEqual(await authenticator.authenticate('alice', secret), { outcome: 'unknown' });

    await robots().update('robot$team+ci', { disabled: true });
    assert.deepEqual(await authenticator.authenticate('robot$team+ci', secret), {
      outcome: 'rejected',
      reason: 'robot account disabled',
    });
    await robots().update('robot$team+ci', { disabled: false, description: 'again' });

    clock.now += 3_600_000;
    assert.deepEqual(await authenticator.authenticate('robot$team+ci', secret), {
      outcome: 'rejected',
      reason: 'robot account expired',
    });
    await assert.rejects(robots().update('robot$team+ci', { expiresAt: clock.now - 1 }), { kind: 'invalid' });
    const renewed = await robots().update('robot$team+ci', { expiresAt: null });
    assert.equal(renewed.expiresAt, null);
    assert.equal(renewed.description, 'again');
    assert.equal((await authenticator.authenticate('robot$team+ci', secret)).outcome, 'authenticated');

    const rotated = await robots().rotateSecret('robot$team+ci');
    assert.notEqual(rotated, secret);
    assert.equal((await authenticator.authenticate('robot$team+ci', secret)).outcome, 'rejected');
    assert.equal((await authenticator.authenticate('robot$team+ci', rotated)).outcome, 'authenticated');
  });

  test('delete one, or all of a project', async () => {
    for (const name of ['a', 'b']) {
      await robots().create({
        project: 'team',
        name,
        permissions: [{ project: 'team', actions: ['pull'] }],
        createdBy: 'x',
      });
    }
    await robots().create({
      project: 'other',
      name: 'a',
      permissions: [{ project: 'other', actions: ['*'] }],
      createdBy: 'x',
    });
    assert.equal(await robots().delete('robot$team+a'), true);
    assert.equal(await robots().delete('robot$team+a'), false);
    await assert.rejects(robots().rotateSecret('robot$team+a'), { kind: 'not-found' });
    assert.equal(await robots().deleteProjectRobots('team'), 1);
    assert.deepEqual(
      (await robots().list()).map((robot) => robot.name),
      ['robot$other+a'],
    );
  });

  test('the chain: robots, then local users', async () => {
    const users = new LocalUsers(store);
    await users.create({ username: 'alice', password: 'alice-password' });
    const { secret } = await robots().create({
      project: 'team',
      name: 'ci',
      permissions: [{ project: 'team', actions: ['pull'] }],
      createdBy: 'alice',
    });
    const chain = [new RobotAuthenticator(robots()), new LocalUserAuthenticator(users)];
    assert.equal((await authenticateWithChain(chain, 'robot$team+ci', secret, context)).outcome, 'authenticated');
    const alice = await authenticateWithChain(chain, 'alice', 'alice-password', context);
    assert.equal(alice.outcome === 'authenticated' && alice.principal.source, 'local');
    assert.deepEqual(await authenticateWithChain(chain, 'nobody', 'x', context), {
      outcome: 'rejected',
      reason: 'unknown user',
    });
  });
});
