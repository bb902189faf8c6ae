import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { authFilePaths, storedCredentials } from '../../src/replication/client/docker-config.ts';

const auth = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

describe('stored registry credentials', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'wharf-docker-config-'));
    env = { HOME: home, XDG_RUNTIME_DIR: join(home, 'run') };
    await mkdir(join(home, '.docker'), { recursive: true });
    await mkdir(join(home, 'run', 'containers'), { recursive: true });
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: auth('hubuser', 'hub:pass') },
          'http://registry.example.com:5000/v2/': { username: 'plain', password: 'fields' },
          'tokens.example.com': { auth: auth('someone', ''), identitytoken: 'refresh-token' },
          'bearer.example.com': { registrytoken: 'raw-token' },
          'empty.example.com': {},
        },
      }),
    );
    await writeFile(
      join(home, 'run', 'containers', 'auth.json'),
      JSON.stringify({
        auths: {
          'ns.example.com/team': { auth: auth('team-robot', 'team-secret') },
          'ns.example.com': { auth: auth('registry-user', 'registry-secret') },
        },
      }),
    );
  });

  after(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('looks in the files podman and skopeo read, in their order', () => {
    assert.deepEqual(authFilePaths({ env: { HOME: '/h', XDG_RUNTIME_DIR: '/run/user/1' } }), [
      '/run/user/1/containers/auth.json',
      '/h/.config/containers/auth.json',
      '/h/.docker/config.json',
    ]);
    assert.deepEqual(
      authFilePaths({
        env: { HOME: '/h', REGISTRY_AUTH_FILE: '/etc/auth.json', DOCKER_CONFIG: '/d', XDG_CONFIG_HOME: '/c' },
      }),
      ['/etc/auth.json', '/c/containers/auth.json', '/d/config.json'],
    );
    assert.deepEqual(authFilePaths({ authFile: '/only.json', env: { HOME: '/h' } }), ['/only.json']);
  });

  it('finds Docker Hub under its legacy index URL, whatever name the registry is given', async () => {
    for (const host of ['docker.io', 'registry-1.docker.io', 'index.docker.io']) {
      assert.deepEqual(await storedCredentials(host, 'library/alpine', { env }), {
        username: 'hubuser',
        password: 'hub:pass',
      });
    }
  });

  it('matches keys with a scheme and an API path, and username/password fields', async () => {
    assert.deepEqual(await storedCredentials('registry.example.com:5000', undefined, { env }), {
      username: 'plain',
      password: 'fields',
    });
    assert.equal(await storedCredentials('registry.example.com', undefined, { env }), undefined);
  });

  it('returns identity and registry tokens as such', async () => {
    assert.deepEqual(await storedCredentials('tokens.example.com', undefined, { env }), {
      identityToken: 'refresh-token',
      username: 'someone',
    });
    assert.deepEqual(await storedCredentials('bearer.example.com', undefined, { env }), { registryToken: 'raw-token' });
    assert.equal(await storedCredentials('empty.example.com', undefined, { env }), undefined);
  });

  it('prefers the most specific namespace entry of auth.json', async () => {
    assert.deepEqual(await storedCredentials('ns.example.com', 'team/app', { env }), {
      username: 'team-robot',
      password: 'team-secret',
    });
    assert.deepEqual(await storedCredentials('ns.example.com', 'other/app', { env }), {
      username: 'registry-user',
      password: 'registry-secret',
    });
  });

  it('reads only --authfile when given, and says which file is broken', async () => {
    const file = join(home, 'ci.json');
    await writeFile(file, JSON.stringify({ auths: { 'docker.io': { auth: auth('ci', 'x') } } }));
    assert.deepEqual(await storedCredentials('docker.io', undefined, { env, authFile: file }), {
      username: 'ci',
      password: 'x',
    });
    assert.equal(await storedCredentials('ns.example.com', undefined, { env, authFile: file }), undefined);
    await assert.rejects(
      storedCredentials('x', undefined, { env, authFile: join(home, 'missing.json') }),
      /cannot read the credentials file/,
    );
    const broken = join(home, 'broken.json');
    await writeFile(broken, '{"auths":');
    await assert.rejects(
      storedCredentials('x', undefined, { env, authFile: broken }),
      /broken\.json is not valid JSON/,
    );
    await writeFile(broken, JSON.stringify({ auths: { x: { auth: Buffer.from('no-colon').toString('base64') } } }));
    await assert.rejects(
      storedCredentials('x', undefined, { env, authFile: broken }),
      /is not base64 of USER:PASSWORD/,
    );
  });

  it('reports a credential helper that is not installed', async () => {
    const file = join(home, 'helper.json');
    await writeFile(file, JSON.stringify({ credHelpers: { 'helped.example.com': 'wharf-none-such' } }));
    await assert.rejects(
      storedCredentials('helped.example.com', undefined, { env, authFile: file }),
      /credential helper docker-credential-wharf-none-such is not installed/,
    );
  });
});
