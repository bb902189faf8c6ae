import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Config, ConfigError, loadConfig } from '../../src/config/index.ts';

const fixtures = resolve(import.meta.dirname, '..', 'fixtures', 'config');
let workDir: string;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'wharf-config-'));
});
after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function writeConfig(name: string, yaml: string): Promise<string> {
  const file = join(workDir, name);
  await writeFile(file, yaml);
  return file;
}

/** Runs loadConfig expecting a ConfigError and returns its message. */
async function configError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('expected loadConfig to fail');
}

describe('loadConfig defaults', () => {
  it('builds the embedded defaults with no file and no environment', async () => {
    const { config, warnings } = await loadConfig({ env: {}, cwd: '/srv/wharf' });
    const expected: Config = {
      version: '0.1',
      log: { level: 'info', formatter: 'text', fields: {}, accesslog: { disabled: false } },
      http: {
        addr: ':5000',
        trustedproxies: [],
        headers: { 'X-Content-Type-Options': ['nosniff'] },
        debug: { prometheus: { enabled: true, path: '/metrics' } },
        tls: { clientcas: [], minimumtls: 'tls1.2' },
        http2: { disabled: false },
      },
      storage: {
        filesystem: { rootdirectory: '/srv/wharf/data', maxthreads: 100 },
        delete: { enabled: true },
        cache: { blobdescriptorsize: 10_000 },
        maintenance: {
          readonly: { enabled: false },
          uploadpurging: { enabled: true, age: 168 * 3_600_000, interval: 24 * 3_600_000, dryrun: false },
        },
        redirect: { disable: false },
      },
      database: { path: '/srv/wharf/data/wharf.db', pool: { max: 10 }, migrate: 'auto' },
      auth: {
        basic: { enabled: true },
        anonymous: { pull: false },
        projects: { enabled: false },
        autocreateprojects: false,
        tokenservice: { issuer: 'wharf', expiration: 300_000, refreshexpiration: 2_592_000_000, algorithm: 'ES256' },
        lockout: { attempts: 5, window: 900_000, duration: 900_000 },
        admin: {},
      },
      proxy: { ttl: 300_000, insecure: false, routes: [] },
      notifications: {
        endpoints: [],
        delivery: {
          workers: 4,
          maxattempts: 25,
          retrydelay: 1_000,
          maxretrydelay: 3_600_000,
          timeout: 10_000,
          batchsize: 100,
          retention: 168 * 3_600_000,
        },
        pulls: { enabled: true, blobs: false, flushinterval: 1_000 },
      },
      audit: { enabled: true, retention: 2160 * 3_600_000, pulls: true },
      replication: { workers: 2 },
      ui: { enabled: true },
      policy: {
        signatures: {
          required: false,
          mode: 'presence',
          formats: ['cosign', 'notation'],
          trustedkeys: [],
          trustedcertificates: [],
        },
        vulnerabilities: { blockseverity: 'none', blockunscanned: false },
      },
      scan: { enabled: true, interval: 1_000 },
      gc: {
        enabled: true,
        workers: 1,
        interval: 5_000,
        reviewafter: 24 * 3_600_000,
        eventreviewafter: {},
        deleteuntagged: false,
      },
      health: { storagedriver: { enabled: true, interval: 10_000, threshold: 3 } },
    };
    assert.deepEqual(config, expected);
    assert.deepEqual(warnings, []);
  });

  it('gives each load its own default objects', async () => {
    const first = await loadConfig({ env: {}, cwd: '/srv' });
    first.config.http.headers.Extra = ['x'];
    first.config.log.fields.extra = 'x';
    const second = await loadConfig({ env: {}, cwd: '/srv' });
    assert.deepEqual(second.config.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.deepEqual(second.config.log.fields, {});
  });

  it('resolves relative paths against the working directory', async () => {
    const file = await writeConfig(
      'relative.yml',
      'storage:\n  filesystem:\n    rootdirectory: blobs\ndatabase:\n  path: db/meta.sqlite\n',
    );
    const { config } = await loadConfig({ file, env: {}, cwd: '/opt/registry' });
    assert.equal(config.storage.filesystem.rootdirectory, '/opt/registry/blobs');
    assert.equal(config.database.path, '/opt/registry/db/meta.sqlite');
  });

  it('keeps the SQLite in-memory database name as written', async () => {
    const { config } = await loadConfig({ env: { REGISTRY_DATABASE_PATH: ':memory:' }, cwd: '/srv' });
    assert.equal(config.database.path, ':memory:');
  });
});

describe('loadConfig file values', () => {
  it('reads every implemented key', async () => {
    const file = await writeConfig(
      'full.yml',
      `version: 0.1
log:
  level: debug
  formatter: json
  fields:
    service: registry
    port: 5000
  accesslog:
    disabled: true
http:
  addr: 127.0.0.1:6000
  host: https://registry.example.com
  secret: 0123456789
  trustedproxies: [10.0.0.0/8, "fd00::1", loopback]
  headers:
    X-Frame-Options: DENY
    Cache-Control: [no-store, private]
  debug:
    addr: "[::1]:5001"
    prometheus:
      enabled: on
      path: /debug/metrics
  tls:
    certificate: /etc/wharf/tls/server.crt
    key: /etc/wharf/tls/server.key
    clientcas:
      - /etc/wharf/tls/clients-a.pem
      - /etc/wharf/tls/clients-b.pem
    minimumtls: tls1.3
    ciphersuites: [TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256]
  http2:
    disabled: true
storage:
  filesystem:
    rootdirectory: /var/lib/wharf
    maxthreads: 200
  delete:
    enabled: false
  cache:
    blobdescriptor: redis
    blobdescriptorsize: 0
  maintenance:
    readonly:
      enabled: yes
    uploadpurging:
      enabled: false
      age: 1h30m
      interval: 300ms
      dryrun: true
  redirect:
    disable: true
database:
  path: /var/lib/wharf-db/wharf.db
auth:
  htpasswd:
    realm: Example Realm
    path: /etc/wharf/htpasswd
  token:
    realm: https://auth.example.com/token
    service: registry.example.com
    issuer: auth.example.com
    rootcertbundle: /etc/wharf/token-ca.pem
    jwks: /etc/wharf/token.jwks
    autoredirect: true
    signingalgorithms: [ES256, RS256]
  basic:
    enabled: false
  anonymous:
    pull: true
  projects:
    enabled: true
  autocreateprojects: true
  tokenservice:
    enabled: false
    issuer: registry.example.com
    service: registry.example.com
    expiration: 2m
    refreshexpiration: 12h
    key: /etc/wharf/token-key.pem
    algorithm: RS256
  ldap:
    url: ldap://ldap.example.com
    binddn: cn=wharf,dc=example,dc=com
    bindpassword: bind-secret
    basedn: ou=people,dc=example,dc=com
    filter: (objectClass=person)
    userattribute: sAMAccountName
    groupattribute: isMemberOf
    groupbasedn: ou=groups,dc=example,dc=com
    groupfilter: (objectClass=groupOfNames)
    groupnameattribute: ou
    admingroup: registry-admins
    starttls: true
    cacert: /etc/wharf/ldap-ca.pem
    insecureskipverify: yes
    timeout: 3s
  oidc:
    issuer: https://id.example.com/realms/main
    clientid: wharf
    clientsecret: oidc-secret
    redirecturl: https://registry.example.com/oidc/callback
    scopes: [openid, groups]
    usernameclaim: email
    groupsclaim: realm_access.roles
    admingroup: registry-admins
  lockout:
    attempts: 10
    window: 5m
    duration: 1h
  admin:
    password: first-admin-password
health:
  storagedriver:
    enabled: false
    interval: 1.5s
    threshold: 5
`,
    );
    const { config, warnings } = await loadConfig({ file, env: {}, cwd: '/' });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.log, {
      level: 'debug',
      formatter: 'json',
      fields: { service: 'registry', port: '5000' },
      accesslog: { disabled: true },
    });
    assert.deepEqual(config.http, {
      addr: '127.0.0.1:6000',
      host: 'https://registry.example.com',
      secret: '0123456789',
      trustedproxies: ['10.0.0.0/8', 'fd00::1', 'loopback'],
      headers: { 'X-Frame-Options': ['DENY'], 'Cache-Control': ['no-store', 'private'] },
      debug: { addr: '[::1]:5001', prometheus: { enabled: true, path: '/debug/metrics' } },
      tls: {
        certificate: '/etc/wharf/tls/server.crt',
        key: '/etc/wharf/tls/server.key',
        clientcas: ['/etc/wharf/tls/clients-a.pem', '/etc/wharf/tls/clients-b.pem'],
        minimumtls: 'tls1.3',
        ciphersuites: ['TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256'],
      },
      http2: { disabled: true },
    });
    assert.deepEqual(config.storage, {
      filesystem: { rootdirectory: '/var/lib/wharf', maxthreads: 200 },
      delete: { enabled: false },
      cache: { blobdescriptor: 'redis', blobdescriptorsize: 0 },
      maintenance: {
        readonly: { enabled: true },
        uploadpurging: { enabled: false, age: 5_400_000, interval: 300, dryrun: true },
      },
      redirect: { disable: true },
    });
    assert.deepEqual(config.database, { path: '/var/lib/wharf-db/wharf.db', pool: { max: 10 }, migrate: 'auto' });
    assert.deepEqual(config.auth, {
      htpasswd: { realm: 'Example Realm', path: '/etc/wharf/htpasswd' },
      token: {
        realm: 'https://auth.example.com/token',
        service: 'registry.example.com',
        issuer: 'auth.example.com',
        rootcertbundle: '/etc/wharf/token-ca.pem',
        jwks: '/etc/wharf/token.jwks',
        autoredirect: true,
        signingalgorithms: ['ES256', 'RS256'],
      },
      basic: { enabled: false },
      anonymous: { pull: true },
      projects: { enabled: true },
      autocreateprojects: true,
      tokenservice: {
        enabled: false,
        issuer: 'registry.example.com',
        service: 'registry.example.com',
        expiration: 120_000,
        refreshexpiration: 43_200_000,
        key: '/etc/wharf/token-key.pem',
        algorithm: 'RS256',
      },
      ldap: {
        url: 'ldap://ldap.example.com',
        binddn: 'cn=wharf,dc=example,dc=com',
        bindpassword: 'bind-secret',
        basedn: 'ou=people,dc=example,dc=com',
        filter: '(objectClass=person)',
        userattribute: 'sAMAccountName',
        groupattribute: 'isMemberOf',
        groupbasedn: 'ou=groups,dc=example,dc=com',
        groupfilter: '(objectClass=groupOfNames)',
        groupnameattribute: 'ou',
        admingroup: 'registry-admins',
        starttls: true,
        cacert: '/etc/wharf/ldap-ca.pem',
        insecureskipverify: true,
        timeout: 3000,
      },
      oidc: {
        issuer: 'https://id.example.com/realms/main',
        clientid: 'wharf',
        clientsecret: 'oidc-secret',
        redirecturl: 'https://registry.example.com/oidc/callback',
        scopes: ['openid', 'groups'],
        usernameclaim: 'email',
        groupsclaim: 'realm_access.roles',
        admingroup: 'registry-admins',
      },
      lockout: { attempts: 10, window: 300_000, duration: 3_600_000 },
      admin: { password: 'first-admin-password' },
    });
    assert.deepEqual(config.health, { storagedriver: { enabled: false, interval: 1500, threshold: 5 } });
  });

  it('fills in the defaults of the optional auth sections', async () => {
    const file = await writeConfig(
      'auth-defaults.yml',
      `auth:
  htpasswd:
    path: /etc/wharf/htpasswd
  token:
    realm: https://auth.example.com/token
    service: registry.example.com
    issuer: auth.example.com
  ldap:
    url: ldaps://ldap.example.com
    basedn: dc=example,dc=com
  oidc:
    issuer: https://id.example.com
    clientid: wharf
`,
    );
    const { config, warnings } = await loadConfig({ file, env: {} });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.auth.htpasswd, { realm: 'Registry Realm', path: '/etc/wharf/htpasswd' });
    assert.deepEqual(config.auth.token, {
      realm: 'https://auth.example.com/token',
      service: 'registry.example.com',
      issuer: 'auth.example.com',
      autoredirect: false,
    });
    assert.deepEqual(config.auth.ldap, {
      url: 'ldaps://ldap.example.com',
      basedn: 'dc=example,dc=com',
      filter: '(objectClass=*)',
      userattribute: 'uid',
      groupattribute: 'memberOf',
      groupnameattribute: 'cn',
      starttls: false,
      insecureskipverify: false,
      timeout: 5000,
    });
    assert.deepEqual(config.auth.oidc, {
      issuer: 'https://id.example.com',
      clientid: 'wharf',
      scopes: ['openid', 'profile', 'email'],
      usernameclaim: 'preferred_username',
      groupsclaim: 'groups',
    });
  });

  it('reads a single string as a list of one', async () => {
    const file = await writeConfig(
      'single-item.yml',
      'http:\n  tls:\n    certificate: /tls/server.crt\n    key: /tls/server.key\n    clientcas: /tls/clients.pem\n',
    );
    const { config } = await loadConfig({ file, env: {} });
    assert.deepEqual(config.http.tls.clientcas, ['/tls/clients.pem']);
  });

  it('takes an empty htpasswd section as no htpasswd', async () => {
    const file = await writeConfig('empty-htpasswd.yml', 'auth:\n  htpasswd:\n');
    const { config, warnings } = await loadConfig({ file, env: {} });
    assert.deepEqual(warnings, []);
    assert.equal(config.auth.htpasswd, undefined);
  });

  it('takes an empty file, and empty keys, as the defaults', async () => {
    const empty = await writeConfig('empty.yml', '');
    assert.equal((await loadConfig({ file: empty, env: {} })).config.http.addr, ':5000');
    const blanks = await writeConfig('blanks.yml', 'http:\n  addr:\nstorage:\n  delete:\nlog: ~\n');
    const { config } = await loadConfig({ file: blanks, env: {} });
    assert.equal(config.http.addr, ':5000');
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.log.level, 'info');
  });

  it('replaces the default headers when the file sets http.headers', async () => {
    const file = await writeConfig('headers.yml', 'http:\n  headers: {}\n');
    const { config } = await loadConfig({ file, env: {} });
    assert.deepEqual(config.http.headers, {});
  });

  it('reads Distribution health semantics: interval 0 is the default, threshold 0 is one failure', async () => {
    const file = await writeConfig('health.yml', 'health:\n  storagedriver:\n    interval: 0\n    threshold: 0\n');
    const { config } = await loadConfig({ file, env: {} });
    assert.deepEqual(config.health.storagedriver, { enabled: true, interval: 10_000, threshold: 1 });
  });

  it('accepts YAML anchors and merge keys', async () => {
    const file = await writeConfig(
      'anchors.yml',
      'x-flags: &on {enabled: true}\nstorage:\n  delete: *on\n  maintenance:\n    readonly:\n      <<: *on\n',
    );
    const message = await configError(loadConfig({ file, env: {} }));
    assert.match(message, /^x-flags: unknown key \(/);
    const valid = await writeConfig(
      'anchors-valid.yml',
      'storage:\n  delete: &on {enabled: false}\n  maintenance:\n    readonly:\n      <<: *on\n',
    );
    const { config } = await loadConfig({ file: valid, env: {} });
    assert.equal(config.storage.delete.enabled, false);
    assert.equal(config.storage.maintenance.readonly.enabled, false);
  });
});

describe('loadConfig Distribution compatibility', () => {
  it('loads the config.yml of the registry:2 image without warnings', async () => {
    const { config, warnings } = await loadConfig({ file: join(fixtures, 'registry-image.yml'), env: {} });
    assert.deepEqual(warnings, []);
    assert.equal(config.storage.filesystem.rootdirectory, '/var/lib/registry');
    assert.equal(config.storage.cache.blobdescriptor, 'inmemory');
    assert.deepEqual(config.log.fields, { service: 'registry' });
    assert.deepEqual(config.health.storagedriver, { enabled: true, interval: 10_000, threshold: 3 });
  });

  it('loads a Distribution 2.8 config unchanged, warning only about unimplemented keys', async () => {
    const file = join(fixtures, 'distribution-2.8.yml');
    const { config, warnings } = await loadConfig({ file, env: {} });
    assert.deepEqual(warnings, [
      `http.relativeurls: not implemented by Wharf yet and ignored (${file}:36)`,
      `http.draintimeout: not implemented by Wharf yet and ignored (${file}:37)`,
    ]);
    assert.deepEqual(config.notifications.endpoints, [
      {
        name: 'audit',
        url: 'https://audit.example.com/registry-events',
        disabled: false,
        headers: { Authorization: ['Bearer 5c0d5ab0d2e14c0f'] },
        timeout: 1_000,
        threshold: 5,
        backoff: 10_000,
        ignoredmediatypes: ['application/octet-stream'],
        ignore: { mediatypes: [], actions: [] },
        format: 'distribution',
      },
    ]);
    assert.deepEqual(config.auth.htpasswd, { realm: 'Registry Realm', path: '/auth/htpasswd' });
    assert.deepEqual(config.http.http2, { disabled: false });
    assert.equal(config.log.formatter, 'json');
    assert.equal(config.http.addr, ':5000');
    assert.equal(config.http.host, 'https://registry.example.com');
    assert.deepEqual(config.http.headers['Strict-Transport-Security'], ['max-age=31536000; includeSubDomains']);
    assert.equal(config.http.debug.addr, '127.0.0.1:5001');
    assert.equal(config.http.debug.prometheus.enabled, true);
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.storage.redirect.disable, true);
    assert.equal(config.storage.maintenance.uploadpurging.age, 604_800_000);
    assert.equal(config.database.path, '/var/lib/registry/wharf.db');
  });

  it('loads Distribution TLS and htpasswd settings without warnings', async () => {
    const file = await writeConfig(
      'distribution-tls.yml',
      `version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :443
  host: https://registry.example.com
  tls:
    certificate: /certs/domain.crt
    key: /certs/domain.key
    clientcas:
      - /certs/client-ca.pem
    minimumtls: tls1.2
    ciphersuites:
      - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
      - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
  http2:
    disabled: true
auth:
  htpasswd:
    realm: basic-realm
    path: /auth/htpasswd
`,
    );
    const { config, warnings } = await loadConfig({ file, env: {} });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.http.tls, {
      certificate: '/certs/domain.crt',
      key: '/certs/domain.key',
      clientcas: ['/certs/client-ca.pem'],
      minimumtls: 'tls1.2',
      ciphersuites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
    });
    assert.deepEqual(config.http.http2, { disabled: true });
    assert.deepEqual(config.auth.htpasswd, { realm: 'basic-realm', path: '/auth/htpasswd' });
    assert.equal(config.auth.projects.enabled, false);
  });

  it('warns about auth.silly and http.tls.letsencrypt and keeps the rest of their sections', async () => {
    const file = await writeConfig(
      'silly.yml',
      `http:
  tls:
    certificate: /certs/domain.crt
    key: /certs/domain.key
    letsencrypt:
      cachefile: /certs/acme.cache
      email: ops@example.com
      hosts: [registry.example.com]
auth:
  silly:
    realm: silly-realm
    service: silly-service
  htpasswd:
    realm: basic-realm
    path: /auth/htpasswd
`,
    );
    const { config, warnings } = await loadConfig({ file, env: {} });
    assert.deepEqual(warnings, [
      `http.tls.letsencrypt: not implemented by Wharf yet and ignored; use http.tls.certificate and http.tls.key (or a proxy that obtains certificates) (${file}:5)`,
      `auth.silly: not implemented by Wharf yet and ignored; the silly authenticator is for development only; use auth.htpasswd (${file}:10)`,
    ]);
    assert.equal(config.http.tls.certificate, '/certs/domain.crt');
    assert.deepEqual(config.auth.htpasswd, { realm: 'basic-realm', path: '/auth/htpasswd' });
  });

  it('warns about the Distribution 3 keys http.tls.clientauth and auth.token.autoredirectpath', async () => {
    const file = await writeConfig(
      'distribution-3.yml',
      `http:
  tls:
    certificate: /certs/domain.crt
    key: /certs/domain.key
    clientcas: [/certs/client-ca.pem]
    clientauth: require-and-verify-client-cert
auth:
  token:
    realm: https://registry.example.com/auth/token/
    service: registry.example.com
    issuer: auth.example.com
    jwks: /certs/token.jwks
    autoredirect: true
    autoredirectpath: /auth/token/
`,
    );
    const { config, warnings } = await loadConfig({ file, env: {} });
    assert.deepEqual(warnings, [
      `http.tls.clientauth: not implemented by Wharf yet and ignored; a client certificate is requested, not required: callers without one must authenticate another way (${file}:6)`,
      `auth.token.autoredirectpath: not implemented by Wharf yet and ignored (${file}:14)`,
    ]);
    assert.deepEqual(config.http.tls.clientcas, ['/certs/client-ca.pem']);
    assert.equal(config.auth.token?.autoredirect, true);
  });

  it('reads deprecated spellings with a warning', async () => {
    const file = await writeConfig(
      'deprecated.yml',
      'loglevel: debug\nlog:\n  formatter: logstash\nstorage:\n  cache:\n    layerinfo: inmemory\nhttp:\n  net: tcp\n',
    );
    const { config, warnings } = await loadConfig({ file, env: {} });
    assert.equal(config.log.level, 'debug');
    assert.equal(config.log.formatter, 'json');
    assert.equal(config.storage.cache.blobdescriptor, 'inmemory');
    assert.deepEqual(warnings, [
      `loglevel is deprecated; use log.level (${file}:1)`,
      `storage.cache.layerinfo is deprecated; use storage.cache.blobdescriptor (${file}:6)`,
      `log.formatter: logstash is not supported; json is used instead (${file}:3)`,
    ]);
  });

  it('prefers log.level over the deprecated loglevel', async () => {
    const file = await writeConfig('both-levels.yml', 'loglevel: debug\nlog:\n  level: error\n');
    assert.equal((await loadConfig({ file, env: {} })).config.log.level, 'error');
  });

  it('accepts Distribution spellings of log levels, in any case', async () => {
    const file = await writeConfig('levels.yml', 'log:\n  level: WARNING\n');
    assert.equal((await loadConfig({ file, env: {} })).config.log.level, 'warn');
  });

  it('warns about other storage drivers and keeps the filesystem', async () => {
    const file = await writeConfig(
      'azure.yml',
      'storage:\n  azure:\n    accountname: images\n    container: registry\n',
    );
    const { config, warnings } = await loadConfig({ file, env: {}, cwd: '/srv' });
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? '',
      /^storage\.azure: not implemented by Wharf yet and ignored; blobs are stored on the filesystem/,
    );
    assert.equal(config.storage.filesystem.rootdirectory, '/srv/data');
  });

  it('refuses two storage drivers, as Distribution does', async () => {
    const file = await writeConfig('two-drivers.yml', 'storage:\n  filesystem: {}\n  inmemory:\n');
    const message = await configError(loadConfig({ file, env: {} }));
    assert.match(message, /^storage: exactly one storage driver may be configured, found filesystem, inmemory/);
  });

  it('raises storage.filesystem.maxthreads to 25 with a warning', async () => {
    const { config, warnings } = await loadConfig({ env: { REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS: '10' } });
    assert.equal(config.storage.filesystem.maxthreads, 25);
    assert.deepEqual(warnings, ['storage.filesystem.maxthreads: 10 is below the minimum of 25; 25 is used']);
  });

  it('warns about keys set twice and uses the last one', async () => {
    const file = await writeConfig('twice.yml', 'http:\n  addr: :5000\n  addr: :6000\n');
    const { config, warnings } = await loadConfig({ file, env: {} });
    assert.equal(config.http.addr, ':6000');
    assert.deepEqual(warnings, [`${file}:3: http.addr is set more than once; the last value is used`]);
  });

  it('warns that unix sockets are not supported and fails on the socket path', async () => {
    const file = await writeConfig('unix.yml', 'http:\n  net: unix\n  addr: /run/registry.sock\n');
    const message = await configError(loadConfig({ file, env: {} }));
    assert.match(message, /^http\.addr: invalid listen address "\/run\/registry\.sock"/);
  });
});

describe('loadConfig errors', () => {
  it('names the path and line of an unknown key, with a suggestion', async () => {
    const file = await writeConfig('typo.yml', 'storage:\n  delete:\n    enabeld: true\n');
    const message = await configError(loadConfig({ file, env: {} }));
    assert.equal(message, `storage.delete.enabeld: unknown key (did you mean "enabled"?) (${file}:3)`);
  });

  it('refuses keys neither Wharf nor Distribution defines', async () => {
    const file = await writeConfig('unknown.yml', 'storage:\n  filesystem:\n    compress: true\nextensions: {}\n');
    const message = await configError(loadConfig({ file, env: {} }));
    assert.deepEqual(message.split('\n'), [
      `storage.filesystem.compress: unknown key (${file}:3)`,
      `extensions: unknown key (${file}:4)`,
    ]);
  });

  it('names the path of a value of the wrong type', async () => {
    const file = await writeConfig('type.yml', 'storage:\n  delete:\n    enabled: yes please\n');
    const message = await configError(loadConfig({ file, env: {} }));
    assert.equal(message, `storage.delete.enabled: expected boolean, got "yes please" (${file}:3)`);
  });

  it('names a section given a scalar', async () => {
    const file = await writeConfig('section.yml', 'storage:\n  delete: true\nlog:\n  fields: [a, b]\n');
    const message = await configError(loadConfig({ file, env: {} }));
    assert.deepEqual(message.split('\n'), [
      `log.fields: expected a mapping, got a list (${file}:4)`,
      `storage.delete: expected a mapping, got "true" (${file}:2)`,
    ]);
  });

  it('refuses bad durations', async () => {
    const file = await writeConfig(
      'durations.yml',
      'storage:\n  maintenance:\n    uploadpurging:\n      age: 10 minutes\n      interval: 0s\nhealth:\n  storagedriver:\n    interval: 10\n',
    );
    const message = await configError(loadConfig({ file, env: {} }));
    assert.deepEqual(message.split('\n'), [
      `storage.maintenance.uploadpurging.age: expected a duration such as "10s", "1h30m" or "300ms", got "10 minutes" (${file}:4)`,
      `storage.maintenance.uploadpurging.interval: expected a duration greater than zero, got 0s (${file}:5)`,
      `health.storagedriver.interval: expected a duration with a unit such as "10s" or "168h", got "10" (a bare number has no unit) (${file}:8)`,
    ]);
  });

  it('refuses a negative duration', async () => {
    const message = await configError(loadConfig({ env: { REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL: '-5s' } }));
    assert.equal(
      message,
      'health.storagedriver.interval: expected a duration that is not negative, got -5s (set by REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL)',
    );
  });

  it('refuses bad values', async () => {
    const file = await writeConfig(
      'values.yml',
      `log:
  level: verbose
  formatter: xml
http:
  addr: localhost
  host: registry.example.com
  headers:
    Bad Header: [x]
    X-Ok: ["line\\nbreak"]
  debug:
    addr: ":99999"
storage:
  filesystem:
    rootdirectory: ""
    maxthreads: many
  cache:
    blobdescriptor: memcached
`,
    );
    const message = await configError(loadConfig({ file, env: {} }));
    const lines = message.split('\n');
    assert.deepEqual(
      lines.map((line) => line.split(':')[0]),
      [
        'log.level',
        'log.formatter',
        'http.addr',
        'http.host',
        'http.headers.Bad Header',
        'http.headers.X-Ok',
        'http.debug.addr',
        'storage.filesystem.rootdirectory',
        'storage.filesystem.maxthreads',
        'storage.cache.blobdescriptor',
      ],
    );
    assert.match(lines[0] ?? '', /expected one of "fatal", "error", "warn", "info", "debug", "trace", got "verbose"/);
    assert.match(lines[2] ?? '', /invalid listen address "localhost": the port is missing/);
    assert.match(lines[6] ?? '', /the port must be a number from 0 to 65535/);
  });

  it('gives a value of the wrong shape one message', async () => {
    const file = await writeConfig(
      'shape.yml',
      'http:\n  addr: [":5000"]\n  host: {url: x}\n  tls:\n    minimumtls: [tls1.2]\n',
    );
    const message = await configError(loadConfig({ file, env: {} }));
    assert.deepEqual(message.split('\n'), [
      `http.addr: expected a listen address such as ":5000", got a list (${file}:2)`,
      `http.host: expected a URL such as "https://registry.example.com", got a mapping (${file}:3)`,
      `http.tls.minimumtls: expected one of "tls1.0", "tls1.1", "tls1.2", "tls1.3", got a list (${file}:5)`,
    ]);
  });

  it('names a required auth key that is missing', async () => {
    const file = await writeConfig(
      'token.yml',
      'auth:\n  token:\n    service: registry.example.com\n    issuer: auth.example.com\n  htpasswd:\n    realm: x\n',
    );
    const message = await configError(loadConfig({ file, env: {} }));
    assert.deepEqual(message.split('\n'), [
      `auth.htpasswd.path: is required: expected a string (${file}:5)`,
      `auth.token.realm: is required: expected a URL such as "https://registry.example.com" (${file}:2)`,
    ]);
  });

  it('refuses bad security values', async () => {
    const file = await writeConfig(
      'security.yml',
      `http:
  tls:
    certificate: /certs/domain.crt
    key: /certs/domain.key
    minimumtls: tls1.4
    clientcas: [/certs/a.pem, {path: /certs/b.pem}]
auth:
  token:
    realm: auth.example.com/token
    service: registry
    issuer: ""
  tokenservice:
    algorithm: HS256
    expiration: 0s
  lockout:
    attempts: 0
`,
    );
    const message = await configError(loadConfig({ file, env: {} }));
    assert.deepEqual(message.split('\n'), [
      `http.tls.clientcas[1]: expected a string, got a mapping (${file}:6)`,
      `http.tls.minimumtls: expected one of "tls1.0", "tls1.1", "tls1.2", "tls1.3", got "tls1.4" (${file}:5)`,
      `auth.token.realm: expected an http:// or https:// URL, got "auth.example.com/token" (${file}:9)`,
      `auth.token.issuer: must not be empty (${file}:11)`,
      `auth.tokenservice.expiration: expected a duration greater than zero, got 0s (${file}:14)`,
      `auth.tokenservice.algorithm: expected one of "ES256", "RS256", got "HS256" (${file}:13)`,
      `auth.lockout.attempts: expected an integer of at least 1, got 0 (${file}:16)`,
    ]);
  });

  it('refuses half a TLS configuration', async () => {
    const certificateOnly = await writeConfig('certificate-only.yml', 'http:\n  tls:\n    certificate: /c.crt\n');
    assert.equal(
      await configError(loadConfig({ file: certificateOnly, env: {} })),
      `http.tls.key: is required when http.tls.certificate is set (${certificateOnly}:2)`,
    );
    assert.equal(
      await configError(loadConfig({ env: { REGISTRY_HTTP_TLS_KEY: '/k.key' } })),
      'http.tls.certificate: is required when http.tls.key is set (set by REGISTRY_HTTP_TLS_KEY)',
    );
    const casOnly = await writeConfig('clientcas-only.yml', 'http:\n  tls:\n    clientcas: [/ca.pem]\n');
    assert.equal(
      await configError(loadConfig({ file: casOnly, env: {} })),
      `http.tls.clientcas: client certificates need TLS: set http.tls.certificate and http.tls.key (${casOnly}:3)`,
    );
  });

  it('refuses an unsupported version', async () => {
    const file = await writeConfig('version.yml', 'version: 0.2\n');
    const message = await configError(loadConfig({ file, env: {} }));
    assert.match(message, /^version: unsupported version "0\.2"/);
  });

  it('names a missing config file', async () => {
    const file = join(workDir, 'nope', 'config.yml');
    assert.equal(await configError(loadConfig({ file, env: {} })), `${file}: config file not found`);
  });

  it('gives the line of invalid YAML', async () => {
    const file = await writeConfig('broken.yml', 'version: 0.1\nhttp:\n  addr: :5000\n  secret: a: b\n');
    const message = await configError(loadConfig({ file, env: {} }));
    assert.equal(message, `${file}:4:11: invalid YAML: Nested mappings are not allowed in compact mappings`);
  });

  it('refuses a file that is not a mapping', async () => {
    const file = await writeConfig('list.yml', '- a\n- b\n');
    const message = await configError(loadConfig({ file, env: {} }));
    assert.equal(message, `${file}: the configuration must be a YAML mapping of keys to values`);
  });
});
