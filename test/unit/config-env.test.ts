import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

let workDir: string;
before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'wharf-config-env-'));
});
after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function writeConfig(name: string, yaml: string): Promise<string> {
  const file = join(workDir, name);
  await writeFile(file, yaml);
  return file;
}

async function configError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('expected loadConfig to fail');
}

describe('REGISTRY_* environment overrides', () => {
  it('overrides keys with no config file at all', async () => {
    const { config, warnings } = await loadConfig({
      cwd: '/srv',
      env: {
        REGISTRY_HTTP_ADDR: '127.0.0.1:0',
        REGISTRY_LOG_LEVEL: 'debug',
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/var/lib/wharf',
        REGISTRY_STORAGE_DELETE_ENABLED: 'false',
        REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS: '5000',
        REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: '1h30m',
        REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL: '10s',
        REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'false',
        REGISTRY_DATABASE_PATH: '/var/lib/wharf-db/meta.db',
        PATH: '/usr/bin',
        REGISTRY_UNSET: undefined,
      },
    });
    assert.deepEqual(warnings, []);
    assert.equal(config.http.addr, '127.0.0.1:0');
    assert.equal(config.log.level, 'debug');
    assert.equal(config.storage.filesystem.rootdirectory, '/var/lib/wharf');
    assert.equal(config.storage.filesystem.maxthreads, 5000);
    assert.equal(config.storage.delete.enabled, false);
    assert.equal(config.storage.maintenance.uploadpurging.age, 5_400_000);
    assert.equal(config.health.storagedriver.interval, 10_000);
    assert.equal(config.http.debug.prometheus.enabled, false);
    assert.equal(config.database.path, '/var/lib/wharf-db/meta.db');
  });

  it('overrides what the file says and keeps the rest of the file', async () => {
    const file = await writeConfig(
      'base.yml',
      'http:\n  addr: :5000\n  secret: from-file\nstorage:\n  delete:\n    enabled: true\n',
    );
    const { config } = await loadConfig({
      file,
      env: { REGISTRY_HTTP_ADDR: ':6000', REGISTRY_STORAGE_DELETE_ENABLED: 'off' },
    });
    assert.equal(config.http.addr, ':6000');
    assert.equal(config.http.secret, 'from-file');
    assert.equal(config.storage.delete.enabled, false);
  });

  it('reads values as YAML scalars', async () => {
    const { config } = await loadConfig({
      env: {
        REGISTRY_STORAGE_DELETE_ENABLED: 'no',
        REGISTRY_STORAGE_REDIRECT_DISABLE: 'yes',
        REGISTRY_HTTP_SECRET: '"quoted secret"',
        REGISTRY_HTTP_HOST: 'https://registry.example.com',
        REGISTRY_STORAGE_CACHE_BLOBDESCRIPTORSIZE: '5000',
      },
    });
    assert.equal(config.storage.delete.enabled, false);
    assert.equal(config.storage.redirect.disable, true);
    assert.equal(config.http.secret, 'quoted secret');
    assert.equal(config.http.host, 'https://registry.example.com');
    assert.equal(config.storage.cache.blobdescriptorsize, 5000);
  });

  it('takes a value that is not valid YAML as written', async () => {
    const { config } = await loadConfig({ env: { REGISTRY_HTTP_SECRET: '@s3cr3t: {x' } });
    assert.equal(config.http.secret, '@s3cr3t: {x');
  });

  it('treats an empty value as unset', async () => {
    const { config } = await loadConfig({ env: { REGISTRY_HTTP_ADDR: '' } });
    assert.equal(config.http.addr, ':5000');
  });

  it('sets a whole section from a YAML mapping, before more specific variables', async () => {
    const { config } = await loadConfig({
      env: {
        REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_DRYRUN: 'true',
        REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING: '{enabled: true, age: 2h, interval: 30m, dryrun: false}',
      },
    });
    assert.deepEqual(config.storage.maintenance.uploadpurging, {
      enabled: true,
      age: 7_200_000,
      interval: 1_800_000,
      dryrun: true,
    });
  });

  it('sets log fields, lower-casing the key as Distribution does', async () => {
    const file = await writeConfig('fields.yml', 'log:\n  fields:\n    service: registry\n');
    const { config } = await loadConfig({ file, env: { REGISTRY_LOG_FIELDS_ENVIRONMENT_NAME: 'staging' } });
    assert.deepEqual(config.log.fields, { service: 'registry', environment_name: 'staging' });
  });

  it('sets a header beside the defaults, replacing one of the same name', async () => {
    const { config } = await loadConfig({
      env: {
        REGISTRY_HTTP_HEADERS_X_FRAME_OPTIONS: 'DENY',
        REGISTRY_HTTP_HEADERS_CACHE_CONTROL: '[no-store, private]',
        REGISTRY_HTTP_HEADERS_X_CONTENT_TYPE_OPTIONS: '[nosniff, other]',
      },
    });
    assert.deepEqual(config.http.headers, {
      'X-Content-Type-Options': ['nosniff', 'other'],
      'X-Frame-Options': ['DENY'],
      'Cache-Control': ['no-store', 'private'],
    });
    const file = await writeConfig('headers.yml', 'http:\n  headers:\n    x-frame-options: [SAMEORIGIN]\n');
    const fromFile = await loadConfig({ file, env: { REGISTRY_HTTP_HEADERS_X_FRAME_OPTIONS: 'DENY' } });
    assert.deepEqual(fromFile.config.http.headers, { 'x-frame-options': ['DENY'] });
  });

  it('accepts Distribution keys Wharf does not implement, with a warning naming the variable', async () => {
    const { config, warnings } = await loadConfig({
      env: {
        REGISTRY_AUTH_SILLY_REALM: 'silly-realm',
        REGISTRY_STORAGE_GCS_CREDENTIALS_PRIVATE_KEY_ID: 'abc',
        REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_0: 'registry.example.com',
      },
    });
    assert.deepEqual(warnings, [
      'storage.gcs: not implemented by Wharf yet and ignored; blobs are stored on the filesystem (storage.filesystem.rootdirectory) (set by REGISTRY_STORAGE_GCS_CREDENTIALS_PRIVATE_KEY_ID)',
      'http.tls.letsencrypt: not implemented by Wharf yet and ignored; use http.tls.certificate and http.tls.key (or a proxy that obtains certificates) (set by REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_0)',
      'auth.silly: not implemented by Wharf yet and ignored; the silly authenticator is for development only; use auth.htpasswd (set by REGISTRY_AUTH_SILLY_REALM)',
    ]);
    assert.deepEqual(config.http.tls, { clientcas: [], minimumtls: 'tls1.2' });
    assert.equal(config.auth.htpasswd, undefined);
  });

  it('creates the htpasswd section from REGISTRY_AUTH_HTPASSWD_*, as with registry:2', async () => {
    const { config, warnings } = await loadConfig({
      env: { REGISTRY_AUTH_HTPASSWD_PATH: '/auth/htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm' },
    });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.auth.htpasswd, { realm: 'Registry Realm', path: '/auth/htpasswd' });
    const pathOnly = await loadConfig({ env: { REGISTRY_AUTH_HTPASSWD_PATH: '/auth/htpasswd' } });
    assert.deepEqual(pathOnly.config.auth.htpasswd, { realm: 'Registry Realm', path: '/auth/htpasswd' });
  });

  it('sets TLS and the token consumer from variables', async () => {
    const { config, warnings } = await loadConfig({
      env: {
        REGISTRY_HTTP_TLS_CERTIFICATE: '/certs/domain.crt',
        REGISTRY_HTTP_TLS_KEY: '/certs/domain.key',
        REGISTRY_HTTP_TLS_MINIMUMTLS: 'tls1.3',
        REGISTRY_HTTP_HTTP2_DISABLED: 'true',
        REGISTRY_AUTH_TOKEN_REALM: 'https://auth.example.com/token',
        REGISTRY_AUTH_TOKEN_SERVICE: 'registry.example.com',
        REGISTRY_AUTH_TOKEN_ISSUER: 'auth.example.com',
        REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: '/certs/token-ca.pem',
        REGISTRY_AUTH_TOKEN_AUTOREDIRECT: 'yes',
        REGISTRY_AUTH_PROJECTS_ENABLED: 'true',
        REGISTRY_AUTH_TOKENSERVICE_EXPIRATION: '10m',
        REGISTRY_AUTH_LOCKOUT_ATTEMPTS: '3',
        REGISTRY_AUTH_ADMIN_PASSWORD: '@first: admin',
      },
    });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.http.tls, {
      certificate: '/certs/domain.crt',
      key: '/certs/domain.key',
      clientcas: [],
      minimumtls: 'tls1.3',
    });
    assert.deepEqual(config.http.http2, { disabled: true });
    assert.deepEqual(config.auth.token, {
      realm: 'https://auth.example.com/token',
      service: 'registry.example.com',
      issuer: 'auth.example.com',
      rootcertbundle: '/certs/token-ca.pem',
      autoredirect: true,
    });
    assert.equal(config.auth.projects.enabled, true);
    assert.equal(config.auth.tokenservice.expiration, 600_000);
    assert.equal(config.auth.lockout.attempts, 3);
    assert.equal(config.auth.admin.password, '@first: admin');
  });

  it('sets a whole list from a YAML list, or a single item', async () => {
    const tls = { REGISTRY_HTTP_TLS_CERTIFICATE: '/certs/domain.crt', REGISTRY_HTTP_TLS_KEY: '/certs/domain.key' };
    const list = await loadConfig({
      env: {
        ...tls,
        REGISTRY_HTTP_TLS_CLIENTCAS: '[/certs/a.pem, /certs/b.pem]',
        REGISTRY_AUTH_TOKEN_REALM: 'https://auth.example.com/token',
        REGISTRY_AUTH_TOKEN_SERVICE: 'registry.example.com',
        REGISTRY_AUTH_TOKEN_ISSUER: 'auth.example.com',
        REGISTRY_AUTH_TOKEN_SIGNINGALGORITHMS: '- ES256\n- EdDSA\n',
      },
    });
    assert.deepEqual(list.config.http.tls.clientcas, ['/certs/a.pem', '/certs/b.pem']);
    assert.deepEqual(list.config.auth.token?.signingalgorithms, ['ES256', 'EdDSA']);
    const single = await loadConfig({ env: { ...tls, REGISTRY_HTTP_TLS_CLIENTCAS: '/certs/ca: main.pem' } });
    assert.deepEqual(single.config.http.tls.clientcas, ['/certs/ca: main.pem']);
  });

  it('sets list items by position, as Distribution does', async () => {
    const env: Record<string, string> = {
      REGISTRY_HTTP_TLS_CERTIFICATE: '/certs/domain.crt',
      REGISTRY_HTTP_TLS_KEY: '/certs/domain.key',
    };
    for (let index = 11; index >= 0; index--) env[`REGISTRY_HTTP_TLS_CLIENTCAS_${index}`] = `/certs/ca-${index}.pem`;
    const { config } = await loadConfig({ env });
    assert.deepEqual(
      config.http.tls.clientcas,
      Array.from({ length: 12 }, (_, index) => `/certs/ca-${index}.pem`),
    );
  });

  it('replaces and appends items of a list from the file', async () => {
    const file = await writeConfig(
      'clientcas.yml',
      'http:\n  tls:\n    certificate: /c.crt\n    key: /c.key\n    clientcas: [/a.pem, /b.pem]\n',
    );
    const { config } = await loadConfig({
      file,
      env: { REGISTRY_HTTP_TLS_CLIENTCAS_1: '/B.pem', REGISTRY_HTTP_TLS_CLIENTCAS_2: '/C.pem' },
    });
    assert.deepEqual(config.http.tls.clientcas, ['/a.pem', '/B.pem', '/C.pem']);
  });

  it('reads the deprecated REGISTRY_LOGLEVEL', async () => {
    const { config, warnings } = await loadConfig({ env: { REGISTRY_LOGLEVEL: 'debug' } });
    assert.equal(config.log.level, 'debug');
    assert.deepEqual(warnings, ['loglevel is deprecated; use log.level (set by REGISTRY_LOGLEVEL)']);
  });

  it('ignores Kubernetes service link variables with a warning', async () => {
    const { config, warnings } = await loadConfig({
      env: {
        REGISTRY_PORT: 'tcp://10.0.0.7:5000',
        REGISTRY_PORT_5000_TCP_ADDR: '10.0.0.7',
        REGISTRY_SERVICE_HOST: '10.0.0.7',
        REGISTRY_SERVICE_PORT_HTTP: '5000',
        REGISTRY_UI_SERVICE_HOST: '10.0.0.8',
        REGISTRY_UI_PORT_80_TCP_PROTO: 'tcp',
      },
    });
    assert.equal(config.http.addr, ':5000');
    assert.equal(warnings.length, 6);
    assert.match(warnings[0] ?? '', /^REGISTRY_PORT: ignored; it looks like a Kubernetes service link variable/);
  });
  it('ignores REGISTRY_AUTH_FILE, the credentials file of Podman and Skopeo, with a warning', async () => {
    const { config, warnings } = await loadConfig({
      env: { REGISTRY_AUTH_FILE: '/run/user/1000/containers/auth.json', REGISTRY_AUTH_ANONYMOUS_PULL: 'true' },
    });
    assert.deepEqual(warnings, [
      'REGISTRY_AUTH_FILE: ignored; it names the credentials file of Podman, Skopeo and Buildah, not a setting',
    ]);
    assert.equal(config.auth.anonymous.pull, true);
  });
});

describe('REGISTRY_* environment errors', () => {
  it('names a variable for a key that does not exist, with a suggestion', async () => {
    const message = await configError(loadConfig({ env: { REGISTRY_HTTP_ADRR: ':5000' } }));
    assert.equal(message, 'REGISTRY_HTTP_ADRR: http has no key "adrr" (did you mean REGISTRY_HTTP_ADDR?)');
  });

  it('names every bad variable', async () => {
    const message = await configError(
      loadConfig({
        env: {
          REGISTRY_STORAGE_FILESYSTEM_ROOTDIR: '/x',
          REGISTRY_NOPE: '1',
          REGISTRY_HTTP_ADDR_HOST: 'x',
          REGISTRY_HTTP__ADDR: ':5000',
        },
      }),
    );
    assert.deepEqual(message.split('\n'), [
      'REGISTRY_HTTP_ADDR_HOST: http.addr is a single value; it has no key "host"',
      'REGISTRY_HTTP__ADDR: empty key name (two underscores in a row?)',
      'REGISTRY_NOPE: there is no top-level key "nope"',
      'REGISTRY_STORAGE_FILESYSTEM_ROOTDIR: storage.filesystem has no key "rootdir"',
    ]);
  });

  it('names the variable that set a bad value', async () => {
    const message = await configError(loadConfig({ env: { REGISTRY_STORAGE_DELETE_ENABLED: 'yes please' } }));
    assert.equal(
      message,
      'storage.delete.enabled: expected boolean, got "yes please" (set by REGISTRY_STORAGE_DELETE_ENABLED)',
    );
  });

  it('names the variable that set a section holding a bad key', async () => {
    const message = await configError(
      loadConfig({ env: { REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING: '{age: 10, intervall: 1h}' } }),
    );
    assert.deepEqual(message.split('\n'), [
      'storage.maintenance.uploadpurging.age: expected a duration with a unit such as "10s" or "168h", got "10" (a bare number has no unit) (set by REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING)',
      'storage.maintenance.uploadpurging.intervall: unknown key (did you mean "interval"?) (set by REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING)',
    ]);
  });

  it('refuses a list item beyond the end of the list, and list variables that name no item', async () => {
    const message = await configError(
      loadConfig({
        env: {
          REGISTRY_HTTP_TLS_CERTIFICATE: '/c.crt',
          REGISTRY_HTTP_TLS_KEY: '/c.key',
          REGISTRY_HTTP_TLS_CLIENTCAS_1: '/b.pem',
          REGISTRY_AUTH_OIDC_SCOPES_EXTRA: 'groups',
        },
      }),
    );
    assert.deepEqual(message.split('\n'), [
      'REGISTRY_AUTH_OIDC_SCOPES_EXTRA: auth.oidc.scopes is a list; REGISTRY_AUTH_OIDC_SCOPES sets all of it and REGISTRY_AUTH_OIDC_SCOPES_0, REGISTRY_AUTH_OIDC_SCOPES_1, ... its items',
      'REGISTRY_HTTP_TLS_CLIENTCAS_1: http.tls.clientcas has 0 items; set REGISTRY_HTTP_TLS_CLIENTCAS_0 first',
    ]);
  });

  it('names the variable that set a bad list item', async () => {
    const message = await configError(
      loadConfig({
        env: {
          REGISTRY_HTTP_TLS_CERTIFICATE: '/c.crt',
          REGISTRY_HTTP_TLS_KEY: '/c.key',
          REGISTRY_HTTP_TLS_CLIENTCAS: '[/a.pem, [/b.pem]]',
          REGISTRY_HTTP_TLS_MINIMUMTLS: 'tls1.4',
        },
      }),
    );
    assert.deepEqual(message.split('\n'), [
      'http.tls.clientcas[1]: expected a string, got a list (set by REGISTRY_HTTP_TLS_CLIENTCAS)',
      'http.tls.minimumtls: expected one of "tls1.0", "tls1.1", "tls1.2", "tls1.3", got "tls1.4" (set by REGISTRY_HTTP_TLS_MINIMUMTLS)',
    ]);
  });

  it('names the variable that set a section missing a required key', async () => {
    const message = await configError(
      loadConfig({
        env: { REGISTRY_AUTH_TOKEN_SERVICE: 'registry.example.com', REGISTRY_AUTH_TOKEN_ISSUER: 'auth.example.com' },
      }),
    );
    assert.equal(
      message,
      'auth.token.realm: is required: expected a URL such as "https://registry.example.com" (set by REGISTRY_AUTH_TOKEN_ISSUER, REGISTRY_AUTH_TOKEN_SERVICE)',
    );
  });

  it('refuses invalid YAML for a section', async () => {
    const message = await configError(loadConfig({ env: { REGISTRY_STORAGE_DELETE: '{enabled: [' } }));
    assert.match(message, /^REGISTRY_STORAGE_DELETE: invalid YAML value: /);
  });
});
