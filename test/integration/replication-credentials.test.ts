import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Credentials, createProject, credsFlag } from '../helpers/auth.ts';
import { buildImageLayout } from '../helpers/images.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';
import { type CliResult, runWharf } from '../helpers/wharf-cli.ts';

/**
 * `wharf copy` finds credentials where docker, podman and skopeo keep them: ~/.docker/config.json
 * (or $DOCKER_CONFIG), its credential helpers, containers' auth.json, `--authfile`; against Wharf
 * with its token service, so a wrong or missing credential is refused for real.
 */

const admin: Credentials = { username: 'admin', password: 'credentials-test-admin-1' };

function basicAuth(credentials: Credentials): string {
  return Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
}

describe('registry credentials from the files docker and podman write', () => {
  let work: string;
  let wharf: WharfProcess;
  let reference: ReferenceRegistry;
  let copies = 0;

  /** A home with nothing in it, and the variables that point into it. */
  async function home(): Promise<{ dir: string; env: Record<string, string> }> {
    const dir = await mkdtemp(join(work, 'home-'));
    await mkdir(join(dir, 'run'));
    return {
      dir,
      env: {
        HOME: dir,
        XDG_RUNTIME_DIR: join(dir, 'run'),
        XDG_CONFIG_HOME: join(dir, 'config'),
        DOCKER_CONFIG: '',
        REGISTRY_AUTH_FILE: '',
      },
    };
  }

  async function copy(env: Record<string, string>, extra: string[] = []): Promise<CliResult> {
    copies += 1;
    return runWharf(
      [
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        ...extra,
        `docker://${wharf.host}/team/app:v1`,
        `docker://${reference.host}/copied/app:${copies}`,
      ],
      env,
    );
  }

  function assertCopied(result: CliResult): void {
    assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^1 image copied/m);
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-credentials-'));
    [wharf, reference] = await Promise.all([
      startWharf({
        env: { WHARF_ADMIN_PASSWORD: admin.password },
        configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
      }),
      startReferenceRegistry(),
    ]);
    await createProject(wharf.url, admin, 'team');
    const layout = join(work, 'layout');
    await buildImageLayout(layout, { tag: 'v1', layers: [{ files: { 'etc/motd': 'credentials\n' } }] });
    await skopeo(['copy', '--dest-creds', credsFlag(admin), `oci:${layout}:v1`, `docker://${wharf.host}/team/app:v1`]);
  });

  after(async () => {
    await Promise.all([wharf?.close(), reference?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('is refused without credentials, with the registry’s own words', async () => {
    const { env } = await home();
    const result = await copy(env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /401 UNAUTHORIZED/);
  });

  it('reads auths of $DOCKER_CONFIG/config.json, keyed as docker login writes them', async () => {
    const { dir, env } = await home();
    const dockerConfig = join(dir, 'docker');
    await mkdir(dockerConfig);
    await writeFile(
      join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [`http://${wharf.host}`]: { auth: basicAuth(admin) } } }),
    );
    assertCopied(await copy({ ...env, DOCKER_CONFIG: dockerConfig }));
  });

  it('reports a wrong stored password as refused by the token service', async () => {
    const { dir, env } = await home();
    await mkdir(join(dir, '.docker'));
    await writeFile(
      join(dir, '.docker', 'config.json'),
      JSON.stringify({ auths: { [wharf.host]: { auth: basicAuth({ username: 'admin', password: 'wrong' }) } } }),
    );
    const result = await copy(env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /the token service .* refused the credentials/);
  });

  it('runs the credential helper credHelpers names for the registry, with the host on standard input', async () => {
    const { dir, env } = await home();
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const seen = join(dir, 'helper-input');
    const helper = join(bin, 'docker-credential-wharftest');
    await writeFile(
      helper,
      [
        '#!/bin/sh',
        `[ "$1" = get ] || exit 2`,
        `cat > '${seen}'`,
        `printf '{"ServerURL":"%s","Username":"${admin.username}","Secret":"${admin.password}"}' "$(cat '${seen}')"`,
        '',
      ].join('\n'),
    );
    await chmod(helper, 0o755);
    await mkdir(join(dir, '.docker'));
    await writeFile(
      join(dir, '.docker', 'config.json'),
      JSON.stringify({ auths: { [wharf.host]: {} }, credHelpers: { [wharf.host]: 'wharftest' } }),
    );
    assertCopied(await copy({ ...env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` }));
    assert.equal(await readFile(seen, 'utf8'), wharf.host);
  });

  it('uses the default store (credsStore) when no entry names the registry', async () => {
    const { dir, env } = await home();
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'docker-credential-vault'),
      `#!/bin/sh\nread server\nprintf '{"Username":"${admin.username}","Secret":"${admin.password}"}'\n`,
    );
    await chmod(join(bin, 'docker-credential-vault'), 0o755);
    await mkdir(join(dir, '.docker'));
    await writeFile(join(dir, '.docker', 'config.json'), JSON.stringify({ credsStore: 'vault' }));
    assertCopied(await copy({ ...env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` }));
  });

  it('reads containers’ auth.json in $XDG_RUNTIME_DIR before ~/.docker/config.json, as podman does', async () => {
    const { dir, env } = await home();
    await mkdir(join(dir, 'run', 'containers'));
    await writeFile(
      join(dir, 'run', 'containers', 'auth.json'),
      JSON.stringify({ auths: { [`${wharf.host}/team`]: { auth: basicAuth(admin) } } }),
    );
    await mkdir(join(dir, '.docker'));
    await writeFile(
      join(dir, '.docker', 'config.json'),
      JSON.stringify({ auths: { [wharf.host]: { auth: basicAuth({ username: 'admin', password: 'stale' }) } } }),
    );
    assertCopied(await copy(env));
  });

  it('takes --authfile alone when given, and --src-creds over any file', async () => {
    const { dir, env } = await home();
    const authfile = join(dir, 'ci-auth.json');
    await writeFile(authfile, JSON.stringify({ auths: { [wharf.host]: { auth: basicAuth(admin) } } }));
    assertCopied(await copy(env, ['--authfile', authfile]));
    const wrong = join(dir, 'wrong-auth.json');
    await writeFile(
      wrong,
      JSON.stringify({ auths: { [wharf.host]: { auth: basicAuth({ username: 'x', password: 'y' }) } } }),
    );
    assertCopied(await copy(env, ['--authfile', wrong, '--src-creds', credsFlag(admin)]));
  });
});
