import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type AuthenticationResult, type Authenticator, authenticateWithChain } from '../../src/auth/authenticator.ts';
import { DirectoryUnavailableError } from '../../src/auth/ldap/directory-unavailable-error.ts';
import { firstRdnValue } from '../../src/auth/ldap/distinguished-name.ts';
import { createLdapAuthenticator, LdapAuthenticator, type LdapConfig } from '../../src/auth/ldap/ldap-authenticator.ts';
import { escapeFilterValue, fillFilterTemplate } from '../../src/auth/ldap/ldap-filter.ts';
import { groupsDn, peopleDn, type Slapd, serviceDn, servicePassword, startSlapd } from '../helpers/slapd.ts';

const context = { remoteAddress: '127.0.0.1' };

describe('LDAP filter and DN text', () => {
  test('escapes every filter metacharacter as RFC 4515 says', () => {
    assert.equal(escapeFilterValue('*)(uid=*'), '\\2a\\29\\28uid=\\2a');
    assert.equal(escapeFilterValue('a\\b\0c'), 'a\\5cb\\00c');
    assert.equal(escapeFilterValue('José'), 'José');
  });

  test('fills {dn} and {username} escaped, leaving the template alone', () => {
    assert.equal(
      fillFilterTemplate('(&(objectClass=groupOfNames)(member={dn}))', { dn: 'uid=a(1),dc=x', username: 'a(1)' }),
      '(&(objectClass=groupOfNames)(member=uid=a\\281\\29,dc=x))',
    );
    assert.equal(fillFilterTemplate('(memberUid={username})', { dn: '', username: '*' }), '(memberUid=\\2a)');
  });

  test('takes a group name from the first RDN, unescaped', () => {
    assert.equal(firstRdnValue('cn=developers,ou=groups,dc=example,dc=org', 'cn'), 'developers');
    assert.equal(firstRdnValue('CN=Dev\\, Ops,OU=Groups,DC=corp', 'cn'), 'Dev, Ops');
    assert.equal(firstRdnValue('cn=Jos\\c3\\a9,dc=x', 'cn'), 'José');
    assert.equal(firstRdnValue('ou=developers,dc=x', 'cn'), undefined);
    assert.equal(firstRdnValue('cn=a+sn=b,dc=x', 'cn'), undefined);
  });
});

describe('LdapAuthenticator against slapd', () => {
  let slapd: Slapd;
  let caDir: string;

  before(async () => {
    slapd = await startSlapd({
      tls: true,
      users: [
        { uid: 'alice', password: 'alice-password', groups: ['developers', 'registry-admins'] },
        { uid: 'bob', password: 'bob-password', groups: ['developers', 'qa'] },
        { uid: 'carol', password: 'carol-password', groups: [] },
        { uid: 'dev*ops', password: 'star-password', groups: ['qa'] },
      ],
    });
    caDir = await mkdtemp(join(tmpdir(), 'wharf-ldap-ca-'));
    await writeFile(join(caDir, 'ca.pem'), slapd.caPem ?? '');
  });

  after(async () => {
    await slapd?.stop();
    if (caDir) await rm(caDir, { recursive: true, force: true });
  });

  function config(overrides: Partial<LdapConfig> = {}): LdapConfig {
    return {
      url: slapd.url,
      binddn: serviceDn,
      bindpassword: servicePassword,
      basedn: peopleDn,
      filter: '(objectClass=inetOrgPerson)',
      userattribute: 'uid',
      groupattribute: 'memberOf',
      groupnameattribute: 'cn',
      admingroup: 'registry-admins',
      starttls: false,
      insecureskipverify: false,
      timeout: 5_000,
      ...overrides,
    };
  }

  function login(username: string, password: string, overrides: Partial<LdapConfig> = {}) {
    return new LdapAuthenticator(config(overrides)).authenticate(username, password);
  }

  test('the right password authenticates, with memberOf groups and the admin flag', async () => {
    assert.deepEqual(await login('alice', 'alice-password'), {
      outcome: 'authenticated',
      principal: { name: 'alice', source: 'ldap', groups: ['developers', 'registry-admins'], admin: true },
    });
    assert.deepEqual(await login('bob', 'bob-password'), {
      outcome: 'authenticated',
      principal: { name: 'bob', source: 'ldap', groups: ['developers', 'qa'], admin: false },
    });
    assert.deepEqual(await login('carol', 'carol-password'), {
      outcome: 'authenticated',
      principal: { name: 'carol', source: 'ldap', groups: [], admin: false },
    });
  });

  test('the principal carries the name as the directory spells it', async () => {
    const result = await login('ALICE', 'alice-password');
    assert.equal(result.outcome, 'authenticated');
    assert.equal(result.outcome === 'authenticated' && result.principal.name, 'alice');
  });

  test('a wrong password is rejected, an unknown user is unknown', async () => {
    assert.deepEqual(await login('alice', 'bob-password'), { outcome: 'rejected', reason: 'invalid password' });
    assert.deepEqual(await login('mallory', 'alice-password'), { outcome: 'unknown' });
    assert.deepEqual(await login('', 'alice-password'), { outcome: 'unknown' });
  });

  test('an empty password is rejected without binding', async () => {
    assert.deepEqual(await login('alice', ''), { outcome: 'rejected', reason: 'empty password' });
  });

  test('filter metacharacters in the user name match nobody', async () => {
    // Unescaped, this would make the filter (&(...)(uid=alice)(uid=*)) and log in as alice.
    assert.deepEqual(await login('alice)(uid=*', 'alice-password'), { outcome: 'unknown' });
    assert.deepEqual(await login('*)(uid=*', 'alice-password'), { outcome: 'unknown' });
    assert.deepEqual(await login('*', 'alice-password'), { outcome: 'unknown' });
    assert.deepEqual(await login('dev*', 'star-password'), { outcome: 'unknown' });
    assert.deepEqual(await login('dev*ops', 'star-password'), {
      outcome: 'authenticated',
      principal: { name: 'dev*ops', source: 'ldap', groups: ['qa'], admin: false },
    });
  });

  test('groups can come from a search of groupbasedn with a group filter', async () => {
    const byFilter = {
      groupbasedn: groupsDn,
      groupfilter: '(&(objectClass=groupOfNames)(member={dn}))',
      groupattribute: 'doesNotExist',
    };
    assert.deepEqual(await login('alice', 'alice-password', byFilter), {
      outcome: 'authenticated',
      principal: { name: 'alice', source: 'ldap', groups: ['developers', 'registry-admins'], admin: true },
    });
    assert.deepEqual(await login('bob', 'bob-password', { groupbasedn: groupsDn }), {
      outcome: 'authenticated',
      principal: { name: 'bob', source: 'ldap', groups: ['developers', 'qa'], admin: false },
    });
  });

  test('admingroup may name the group by DN', async () => {
    const result = await login('alice', 'alice-password', { admingroup: `CN=registry-admins,${groupsDn}` });
    assert.equal(result.outcome === 'authenticated' && result.principal.admin, true);
    const notAdmin = await login('alice', 'alice-password', { admingroup: undefined });
    assert.equal(notAdmin.outcome === 'authenticated' && notAdmin.principal.admin, false);
  });

  test('concurrent logins keep their own groups', async () => {
    const authenticator = new LdapAuthenticator(config());
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        index % 2 === 0
          ? authenticator.authenticate('alice', 'alice-password')
          : authenticator.authenticate('bob', 'bob-password'),
      ),
    );
    for (const [index, result] of results.entries()) {
      assert.equal(result.outcome, 'authenticated');
      const expected = index % 2 === 0 ? ['developers', 'registry-admins'] : ['developers', 'qa'];
      assert.deepEqual(result.outcome === 'authenticated' && result.principal.groups, expected);
    }
  });

  test('StartTLS with the CA from cacert', async () => {
    const authenticator = await createLdapAuthenticator(config({ starttls: true, cacert: join(caDir, 'ca.pem') }));
    const result = await authenticator.authenticate('alice', 'alice-password');
    assert.equal(result.outcome, 'authenticated');
    assert.deepEqual(await authenticator.authenticate('alice', 'wrong'), {
      outcome: 'rejected',
      reason: 'invalid password',
    });
  });

  test('StartTLS refuses a certificate it cannot verify unless insecureskipverify', async () => {
    await assert.rejects(login('alice', 'alice-password', { starttls: true }), DirectoryUnavailableError);
    const result = await login('alice', 'alice-password', { starttls: true, insecureskipverify: true });
    assert.equal(result.outcome, 'authenticated');
  });

  test('ldaps:// with the CA given as PEM text', async () => {
    const authenticator = await createLdapAuthenticator(config({ url: slapd.ldapsUrl, cacert: slapd.caPem }));
    assert.equal((await authenticator.authenticate('bob', 'bob-password')).outcome, 'authenticated');
    await assert.rejects(login('bob', 'bob-password', { url: slapd.ldapsUrl }), DirectoryUnavailableError);
  });

  test('a refused service bind is an unavailable directory, not a failed login', async () => {
    await assert.rejects(login('alice', 'alice-password', { bindpassword: 'wrong' }), (error: unknown) => {
      assert.ok(error instanceof DirectoryUnavailableError);
      assert.equal(error.status, 503);
      assert.equal(error.code, 'UNAVAILABLE');
      return true;
    });
  });

  test('starttls with ldaps:// is a configuration error', () => {
    assert.throws(() => new LdapAuthenticator(config({ url: 'ldaps://127.0.0.1:1', starttls: true })), /starttls/);
    assert.throws(() => new LdapAuthenticator(config({ url: 'http://127.0.0.1:1' })), /ldap:\/\//);
  });
});

describe('LdapAuthenticator when the directory is down', () => {
  const fallback: Authenticator = {
    name: 'fallback',
    async authenticate(username): Promise<AuthenticationResult> {
      calls++;
      return { outcome: 'authenticated', principal: { name: username, source: 'htpasswd', groups: [], admin: false } };
    },
  };
  let calls = 0;

  test('a refused connection throws, and the chain never reaches the next authenticator', async () => {
    const port = await closedPort();
    const ldap = new LdapAuthenticator(downConfig(`ldap://127.0.0.1:${port}`, 2_000));
    await assert.rejects(authenticateWithChain([ldap, fallback], 'alice', 'pw', context), DirectoryUnavailableError);
    assert.equal(calls, 0);
  });

  test('a server that never answers fails within the timeout', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    assert.ok(address !== null && typeof address === 'object');
    try {
      for (const starttls of [false, true]) {
        const ldap = new LdapAuthenticator({ ...downConfig(`ldap://127.0.0.1:${address.port}`, 300), starttls });
        const started = Date.now();
        await assert.rejects(ldap.authenticate('alice', 'pw'), DirectoryUnavailableError);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 250 && elapsed < 2_000, `failed after ${elapsed} ms`);
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

function downConfig(url: string, timeout: number): LdapConfig {
  return {
    url,
    binddn: serviceDn,
    bindpassword: servicePassword,
    basedn: peopleDn,
    filter: '(objectClass=*)',
    userattribute: 'uid',
    groupattribute: 'memberOf',
    groupnameattribute: 'cn',
    starttls: false,
    insecureskipverify: false,
    timeout,
  };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}
