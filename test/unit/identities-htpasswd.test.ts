import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { HtpasswdAuthenticator } from '../../src/auth/identities/htpasswd-authenticator.ts';
import { HtpasswdError, parseHtpasswd } from '../../src/auth/identities/htpasswd-file.ts';
import { createLogger } from '../../src/observability/logger.ts';

const fixtures = resolve(import.meta.dirname, '..', 'fixtures', 'htpasswd');

interface LogLine {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger() {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (fields: object, message: string): void => {
      lines.push({ level, fields: fields as Record<string, unknown>, message });
    };
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(25);
  }
}

describe('htpasswd parsing', () => {
  test('reads bcrypt entries ($2y$, $2a$, $2b$), skipping comments and blank lines, trimming CRLF', async () => {
    const path = join(fixtures, 'good.htpasswd');
    const entries = parseHtpasswd(await readFile(path, 'utf8'), path);
    assert.deepEqual([...entries.keys()], ['alice', 'bob', 'carol']);
    assert.equal(entries.get('alice')?.cost, 5);
    assert.ok(entries.get('alice')?.hash.startsWith('$2b$05$'), '$2y$ is rewritten as $2b$');
    assert.ok(entries.get('bob')?.hash.startsWith('$2a$05$'));
    assert.equal(await bcrypt.compare('alice-password', entries.get('alice')?.hash ?? ''), true);
  });

  test('a later line for the same user wins, as in Distribution', () => {
    const first = bcrypt.hashSync('one', 4);
    const second = bcrypt.hashSync('two', 4);
    const entries = parseHtpasswd(`u:${first}\nu:${second}\n`, 'f');
    assert.equal(entries.get('u')?.hash, second);
  });

  test('refuses a SHA-1 entry naming the file, line and user', async () => {
    const path = join(fixtures, 'sha1.htpasswd');
    assert.throws(
      () => parseHtpasswd(readFileSync(path, 'utf8'), path),
      (error: unknown) => {
        assert.ok(error instanceof HtpasswdError);
        assert.equal(
          error.message,
          `${path}:3: user "dave": a SHA-1 hash ({SHA}) is not supported; only bcrypt entries are (create them with "htpasswd -B")`,
        );
        assert.ok(!error.message.includes('W6ph5Mm5'), 'the hash itself is never echoed');
        return true;
      },
    );
  });

  for (const [hash, described] of [
    ['$apr1$abcdefgh$0123456789abcdefghijkl', 'an Apache MD5 hash ($apr1$)'],
    ['$1$abcdefgh$0123456789abcdefghijkl', 'an MD5-crypt hash ($1$)'],
    ['$6$salt$hash', 'a SHA-512-crypt hash ($6$)'],
    ['abJnggxhB/yWI', 'a crypt(3) DES hash'],
    ['secret', 'a plain-text password or unknown hash'],
    ['', 'an empty password'],
    ['$2y$05$tooShort', 'a malformed bcrypt hash'],
  ] as const) {
    test(`refuses ${described}`, () => {
      assert.throws(() => parseHtpasswd(`# users\nbob:${hash}\n`, '/etc/htpasswd'), {
        name: 'HtpasswdError',
        message: `/etc/htpasswd:2: user "bob": ${described} is not supported; only bcrypt entries are (create them with "htpasswd -B")`,
      });
    });
  }

  test('refuses a line without a colon or without a user', () => {
    assert.throws(() => parseHtpasswd('alice\n', 'p'), {
      message: 'p:1: invalid entry: expected "user:bcrypt-hash"',
    });
    assert.throws(() => parseHtpasswd(`\n:${bcrypt.hashSync('x', 4)}\n`, 'p'), {
      message: 'p:2: invalid entry: expected "user:bcrypt-hash"',
    });
  });
});

describe('htpasswd authenticator', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-htpasswd-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('authenticated, rejected and unknown outcomes, with an htpasswd principal', async () => {
    const { logger } = recordingLogger();
    const authenticator = await HtpasswdAuthenticator.open({ path: join(fixtures, 'good.htpasswd'), logger });
    try {
      assert.equal(authenticator.provisioned, undefined);
      assert.deepEqual(await authenticator.authenticate('alice', 'alice-password'), {
        outcome: 'authenticated',
        principal: { name: 'alice', source: 'htpasswd', groups: [], admin: false },
      });
      assert.equal((await authenticator.authenticate('bob', 'bob-password')).outcome, 'authenticated');
      assert.deepEqual(await authenticator.authenticate('alice', 'wrong'), {
        outcome: 'rejected',
        reason: 'wrong password',
      });
      assert.deepEqual(await authenticator.authenticate('mallory', 'alice-password'), { outcome: 'unknown' });
      assert.equal((await authenticator.authenticate('Alice', 'alice-password')).outcome, 'unknown');
    } finally {
      authenticator.close();
    }
  });

  test('an unknown user costs about as much time as a wrong password', async () => {
    const path = join(dir, 'timing.htpasswd');
    await writeFile(path, `alice:${bcrypt.hashSync('alice-password', 10)}\n`);
    const authenticator = await HtpasswdAuthenticator.open({ path, logger: recordingLogger().logger });
    try {
      await authenticator.authenticate('nobody', 'x'); // builds the dummy hash once
      const time = async (user: string) => {
        const start = performance.now();
        for (let i = 0; i < 3; i++) await authenticator.authenticate(user, 'guess');
        return performance.now() - start;
      };
      const known = await time('alice');
      const unknown = await time('nobody');
      assert.ok(unknown > known * 0.5, `unknown ${unknown.toFixed(0)} ms vs known ${known.toFixed(0)} ms`);
    } finally {
      authenticator.close();
    }
  });

  test('a missing file is created with user "docker" and a random password, logged once', async () => {
    const path = join(dir, 'created', 'htpasswd');
    const output = new PassThrough();
    let logged = '';
    output.on('data', (chunk: Buffer) => {
      logged += chunk.toString();
    });
    const logger = createLogger({ level: 'info', formatter: 'json', fields: {} }, output);
    const authenticator = await HtpasswdAuthenticator.open({ path, logger });
    try {
      const provisioned = authenticator.provisioned;
      assert.ok(provisioned);
      assert.equal(provisioned.username, 'docker');
      assert.match(provisioned.password, /^[A-Za-z0-9_-]{43}$/);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.match(await readFile(path, 'utf8'), /^docker:\$2[ab]\$10\$[./A-Za-z0-9]{53}\n$/);
      logger.flush();
      await waitFor(async () => logged.includes('\n'));
      const warning = JSON.parse(logged.split('\n')[0]!) as Record<string, unknown>;
      assert.equal(warning.level, 'warn');
      assert.equal(warning.msg, 'htpasswd file is missing: created it with a default user');
      assert.equal(warning.user, 'docker');
      assert.equal(warning.password, provisioned.password);
      assert.equal((await authenticator.authenticate('docker', provisioned.password)).outcome, 'authenticated');
    } finally {
      authenticator.close();
    }
    const again = await HtpasswdAuthenticator.open({ path, logger: recordingLogger().logger });
    again.close();
    assert.equal(again.provisioned, undefined, 'an existing file is left alone');
  });

  test('a broken file at startup is an error naming file and line', async () => {
    const path = join(dir, 'broken-at-start');
    await writeFile(path, 'alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n');
    await assert.rejects(HtpasswdAuthenticator.open({ path, logger: recordingLogger().logger }), {
      name: 'HtpasswdError',
      message: new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:1: user "alice": a SHA-1 hash`),
    });
  });

  test('reloads when the file is replaced, and keeps the last good users when the new file is broken', async () => {
    const path = join(dir, 'reload.htpasswd');
    await writeFile(path, `alice:${bcrypt.hashSync('one', 4)}\n`);
    const { lines, logger } = recordingLogger();
    const authenticator = await HtpasswdAuthenticator.open({ path, logger, debounceMs: 20, statIntervalMs: 60_000 });
    try {
      assert.deepEqual(authenticator.usernames(), ['alice']);

      // Replaced by rename, as editors and `htpasswd` do.
      await writeFile(`${path}.tmp`, `alice:${bcrypt.hashSync('two', 4)}\nbob:${bcrypt.hashSync('bob', 4)}\n`);
      await rename(`${path}.tmp`, path);
      await waitFor(async () => authenticator.usernames().length === 2);
      assert.equal((await authenticator.authenticate('alice', 'two')).outcome, 'authenticated');
      assert.equal((await authenticator.authenticate('alice', 'one')).outcome, 'rejected');
      assert.equal((await authenticator.authenticate('bob', 'bob')).outcome, 'authenticated');
      assert.ok(lines.some((line) => line.level === 'info' && line.message === 'htpasswd file reloaded'));

      // Rewritten in place with an entry that is not bcrypt: logged, the previous users stay.
      await writeFile(path, `alice:${bcrypt.hashSync('three', 4)}\ncarol:$apr1$x$y\n`);
      await waitFor(async () => lines.some((line) => line.level === 'error'));
      const error = lines.find((line) => line.level === 'error');
      assert.match(String(error?.fields.error), /reload\.htpasswd:2: user "carol": an Apache MD5 hash/);
      assert.equal((await authenticator.authenticate('alice', 'two')).outcome, 'authenticated');
      assert.equal((await authenticator.authenticate('alice', 'three')).outcome, 'rejected');
      assert.deepEqual(authenticator.usernames().sort(), ['alice', 'bob']);

      // Fixed again: picked up.
      await writeFile(path, `alice:${bcrypt.hashSync('four', 4)}\n`);
      await waitFor(async () => authenticator.usernames().length === 1);
      assert.equal((await authenticator.authenticate('alice', 'four')).outcome, 'authenticated');
      assert.equal((await authenticator.authenticate('bob', 'bob')).outcome, 'unknown');
    } finally {
      authenticator.close();
    }
  });

  test('without change notifications, a login notices a changed file after the stat interval', async () => {
    const path = join(dir, 'polled.htpasswd');
    await writeFile(path, `alice:${bcrypt.hashSync('one', 4)}\n`);
    const authenticator = await HtpasswdAuthenticator.open({
      path,
      logger: recordingLogger().logger,
      statIntervalMs: 0,
    });
    authenticator.close(); // no watcher: only the check at login remains
    await writeFile(path, `alice:${bcrypt.hashSync('two', 4)}\n`);
    assert.equal((await authenticator.authenticate('alice', 'two')).outcome, 'authenticated');
  });
});
