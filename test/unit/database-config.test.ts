import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Config, isConfigError, loadConfig } from '../../src/config/index.ts';
import { databaseDialect, describeDatabase } from '../../src/metadata/open-database.ts';
import { postgresConnection } from '../../src/metadata/open-postgres.ts';

async function load(env: Record<string, string>): Promise<Config['database']> {
  return (await loadConfig({ env, cwd: '/srv' })).config.database;
}

async function problems(env: Record<string, string>): Promise<string> {
  try {
    await loadConfig({ env, cwd: '/srv' });
  } catch (error) {
    assert.ok(isConfigError(error), String(error));
    return error.message;
  }
  assert.fail('expected a configuration error');
}

describe('database configuration', () => {
  it('is SQLite under the storage root unless PostgreSQL is named', async () => {
    const database = await load({});
    assert.deepEqual(database, { path: '/srv/data/wharf.db', pool: { max: 10 }, migrate: 'auto' });
    assert.equal(databaseDialect(database), 'sqlite');
    assert.equal(describeDatabase(database), 'sqlite:/srv/data/wharf.db');
  });

  it('reads the PostgreSQL keys from the environment', async () => {
    const database = await load({
      REGISTRY_DATABASE_URL: 'postgres://wharf@db.example.com:5433/registry',
      REGISTRY_DATABASE_PASSWORD: 's3cret',
      REGISTRY_DATABASE_SSLMODE: 'verify-full',
      REGISTRY_DATABASE_POOL_MAX: '25',
      REGISTRY_DATABASE_STATEMENTTIMEOUT: '30s',
      REGISTRY_DATABASE_MIGRATE: 'manual',
    });
    assert.equal(databaseDialect(database), 'postgres');
    assert.equal(database.url, 'postgres://wharf@db.example.com:5433/registry');
    assert.equal(database.password, 's3cret');
    assert.equal(database.sslmode, 'verify-full');
    assert.deepEqual(database.pool, { max: 25 });
    assert.equal(database.statementtimeout, 30_000);
    assert.equal(database.migrate, 'manual');
  });

  it('puts the password and sslmode keys into the URL, with libpq’s meaning of sslmode', async () => {
    const database = await load({
      REGISTRY_DATABASE_URL: 'postgresql://wharf:old@db.example.com/registry?application_name=x',
      REGISTRY_DATABASE_PASSWORD: 'p@ss:w/rd%41',
      REGISTRY_DATABASE_SSLMODE: 'require',
    });
    const url = new URL(postgresConnection(database).connectionString ?? '');
    assert.equal(decodeURIComponent(url.password), 'p@ss:w/rd%41');
    assert.equal(url.searchParams.get('sslmode'), 'require');
    assert.equal(url.searchParams.get('uselibpqcompat'), 'true');
    assert.equal(url.searchParams.get('application_name'), 'x');
    assert.equal(describeDatabase(database), 'postgresql://wharf:***@db.example.com/registry?application_name=x');
  });

  it('builds the connection from separate keys', async () => {
    const database = await load({
      REGISTRY_DATABASE_HOST: '/var/run/postgresql',
      REGISTRY_DATABASE_USER: 'wharf',
      REGISTRY_DATABASE_DBNAME: 'registry',
      REGISTRY_DATABASE_SSLMODE: 'verify-ca',
    });
    const connection = postgresConnection(database);
    assert.equal(connection.host, '/var/run/postgresql');
    assert.equal(connection.user, 'wharf');
    assert.equal(connection.database, 'registry');
    assert.equal(connection.port, undefined);
    assert.ok(typeof connection.ssl === 'object' && connection.ssl.rejectUnauthorized === true);
    assert.equal(postgresConnection({ ...database, sslmode: undefined }).ssl, false);
    const required = postgresConnection({ ...database, sslmode: 'require' }).ssl;
    assert.ok(typeof required === 'object' && required.rejectUnauthorized === false);
    assert.equal(describeDatabase(database), 'postgres://wharf@/registry?host=/var/run/postgresql&port=5432');
  });

  it('refuses keys that would silently pick the other database', async () => {
    assert.match(
      await problems({ REGISTRY_DATABASE_USER: 'wharf' }),
      /database\.user: is for PostgreSQL: set database\.url or database\.host too/,
    );
    assert.match(
      await problems({ REGISTRY_DATABASE_URL: 'postgres://db/wharf', REGISTRY_DATABASE_PATH: '/var/lib/wharf.db' }),
      /database\.path: is the SQLite file: remove it when database\.url or database\.host names PostgreSQL/,
    );
    assert.match(
      await problems({ REGISTRY_DATABASE_URL: 'postgres://db/wharf', REGISTRY_DATABASE_HOST: 'db' }),
      /database\.host: is part of database\.url: set one or the other/,
    );
    assert.match(
      await problems({ REGISTRY_DATABASE_URL: 'mysql://db/wharf' }),
      /database\.url: expected a URL such as/,
    );
    assert.match(
      await problems({ REGISTRY_DATABASE_MIGRATE: 'sometimes' }),
      /database\.migrate: expected one of "auto", "manual"/,
    );
    assert.match(
      await problems({ REGISTRY_DATABASE_HOST: 'db', REGISTRY_DATABASE_SSLMODE: 'prefer' }),
      /database\.sslmode/,
    );
    assert.match(
      await problems({ REGISTRY_DATABASE_HOST: 'db', REGISTRY_DATABASE_POOL_MAX: '0' }),
      /database\.pool\.max/,
    );
  });
});
