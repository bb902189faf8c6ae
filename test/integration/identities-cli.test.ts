import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { LocalUsers } from '../../src/auth/identities/local-users.ts';
import { IdentityStore } from '../../src/metadata/identity-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { type CliResult, runWharf } from '../helpers/wharf-cli.ts';

let dataDir: string;

/** Runs `wharf user …` as a user would, with the storage root (and so the database) in a temp dir. */
function wharfUser(args: string[], stdin?: string, env: Record<string, string> = {}): Promise<CliResult> {
  return runWharf(
    ['user', ...args],
    { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dataDir, REGISTRY_AUTH_PROJECTS_ENABLED: 'true', ...env },
    stdin,
  );
}

describe('wharf user', () => {
  let db: Kysely<Database>;
  let users: LocalUsers;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'wharf-user-cli-'));
    const added = await wharfUser(['add', 'alice', '--email', 'alice@example.com'], 'alice-password-1\n');
    assert.deepEqual(added, { code: 0, stdout: 'created user "alice"\n', stderr: '' });
    db = await openSqlite(join(dataDir, 'wharf.db'));
    users = new LocalUsers(new IdentityStore(db));
  });

  after(async () => {
    await db.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('add reads the password from the first line of standard input', async () => {
    const alice = await users.get('alice');
    assert.equal(alice.email, 'alice@example.com');
    assert.equal(alice.admin, false);
    assert.equal((await users.verifyPassword('alice', 'alice-password-1')).outcome, 'valid');
  });

  test('add --admin --generate prints a password that works', async () => {
    const result = await wharfUser(['add', 'ops', '--admin', '--generate']);
    assert.equal(result.code, 0, result.stderr);
    const match = /^created user "ops" \(administrator\)\npassword: ([A-Za-z0-9_-]{24})\n$/.exec(result.stdout);
    assert.ok(match, result.stdout);
    assert.equal((await users.verifyPassword('ops', match[1]!)).outcome, 'valid');
    assert.equal((await users.get('ops')).admin, true);
  });

  test('clear errors: existing user, bad name, no password, short password', async () => {
    assert.deepEqual(await wharfUser(['add', 'alice', '--generate']), {
      code: 1,
      stdout: '',
      stderr: 'wharf: user "alice" already exists\n',
    });
    assert.deepEqual(await wharfUser(['add', 'Bob', '--generate']), {
      code: 1,
      stdout: '',
      stderr: 'wharf: invalid username "Bob": use 1 to 64 lower-case letters, digits, ".", "_" or "-"\n',
    });
    assert.deepEqual(await wharfUser(['add', 'bob', '--password-stdin'], ''), {
      code: 1,
      stdout: '',
      stderr: 'wharf: no password on standard input\n',
    });
    assert.deepEqual(await wharfUser(['add', 'bob'], 'short\n'), {
      code: 1,
      stdout: '',
      stderr: 'wharf: a password must have at least 8 characters\n',
    });
    assert.equal(await users.find('bob'), undefined);
  });

  test('passwd changes the password', async () => {
    await wharfUser(['add', 'carol', '--password-stdin'], 'carol-password-1\n');
    const result = await wharfUser(['passwd', 'carol', '--password-stdin'], 'carol-password-2\r\nignored\n');
    assert.deepEqual(result, { code: 0, stdout: 'password of "carol" changed\n', stderr: '' });
    assert.equal((await users.verifyPassword('carol', 'carol-password-1')).outcome, 'invalid');
    assert.equal((await users.verifyPassword('carol', 'carol-password-2')).outcome, 'valid');
    assert.deepEqual(await wharfUser(['passwd', 'nobody', '--generate']), {
      code: 1,
      stdout: '',
      stderr: 'wharf: user "nobody" not found\n',
    });
  });

  test('disable and enable', async () => {
    await wharfUser(['add', 'dave', '--generate']);
    assert.deepEqual(await wharfUser(['disable', 'dave']), { code: 0, stdout: 'disabled user "dave"\n', stderr: '' });
    assert.equal((await users.get('dave')).disabled, true);
    assert.deepEqual(await wharfUser(['enable', 'dave']), { code: 0, stdout: 'enabled user "dave"\n', stderr: '' });
    assert.equal((await users.get('dave')).disabled, false);
  });

  test('ls prints a table, ls --json the users without hashes', async () => {
    await wharfUser(['add', 'erin', '--generate']);
    const table = await wharfUser(['ls']);
    assert.equal(table.code, 0);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^USERNAME\s+ADMIN\s+STATUS\s+SOURCE\s+EMAIL\s+CREATED$/);
    assert.match(
      lines.find((line) => line.startsWith('alice '))!,
      /^alice\s+no\s+enabled\s+local\s+alice@example\.com\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/,
    );
    assert.match(lines.find((line) => line.startsWith('ops '))!, /^ops\s+yes\s+enabled\s+local\s+-\s+/);
    const json = await wharfUser(['ls', '--json']);
    const listed = JSON.parse(json.stdout) as { username: string }[];
    assert.ok(listed.some((user) => user.username === 'erin'));
    assert.ok(!json.stdout.includes('argon2'), 'no password hashes');
  });

  test('rm deletes; the last administrator cannot be removed', async () => {
    await wharfUser(['add', 'frank', '--generate']);
    assert.deepEqual(await wharfUser(['rm', 'frank']), { code: 0, stdout: 'deleted user "frank"\n', stderr: '' });
    assert.equal(await users.find('frank'), undefined);
    assert.deepEqual(await wharfUser(['rm', 'frank']), {
      code: 1,
      stdout: '',
      stderr: 'wharf: user "frank" not found\n',
    });
    assert.deepEqual(await wharfUser(['rm', 'ops']), {
      code: 1,
      stdout: '',
      stderr: 'wharf: "ops" is the last enabled administrator\n',
    });
  });

  test('add notes that local users need projects mode when it is off', async () => {
    const result = await wharfUser(['add', 'gail', '--generate'], '', { REGISTRY_AUTH_PROJECTS_ENABLED: 'false' });
    assert.equal(result.code, 0);
    assert.equal(result.stderr, 'note: local users sign in only when auth.projects.enabled is true\n');
    assert.ok(await users.find('gail'));
  });

  test('a config file that does not exist is a configuration error (exit 2)', async () => {
    const result = await wharfUser(['-c', join(dataDir, 'missing.yml'), 'ls']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^wharf: configuration error: /);
  });
});
