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
        REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true',
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
    assert.equal(config.http.debug.prometheus.enabled, true);
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
    const { warnings } = await loadConfig({
      env: {
        REGISTRY_AUTH_HTPASSWD_PATH: '/auth/htpasswd',
        REGISTRY_AUTH_HTPASSWD_REALM: 'Registry',
        REGISTRY_STORAGE_GCS_CREDENTIALS_PRIVATE_KEY_ID: 'abc',
        REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_0: 'registry.example.com',
      },
    });
    assert.deepEqual(warnings, [
      'storage.gcs: not implemented by Wharf yet and ignored; blobs are stored on the filesystem (storage.filesystem.rootdirectory) (set by REGISTRY_STORAGE_GCS_CREDENTIALS_PRIVATE_KEY_ID)',
      'http.tls: not implemented by Wharf yet and ignored; Wharf serves plain HTTP; terminate TLS in a reverse proxy in front of it (set by REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_0)',
      'auth: not implemented by Wharf yet and ignored; requests are NOT authenticated, anyone who can reach the registry can push and delete (set by REGISTRY_AUTH_HTPASSWD_PATH, REGISTRY_AUTH_HTPASSWD_REALM)',
    ]);
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

  it('refuses invalid YAML for a section', async () => {
    const message = await configError(loadConfig({ env: { REGISTRY_STORAGE_DELETE: '{enabled: [' } }));
    assert.match(message, /^REGISTRY_STORAGE_DELETE: invalid YAML value: /);
  });
});
