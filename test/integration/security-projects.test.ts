import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import {
  addMember,
  assertSameImage,
  basicOf,
  bearer,
  type Credentials,
  call,
  challengeOf,
  createProject,
  createRobot,
  createUser,
  credsFlag,
  getManifestAs,
  getToken,
} from '../helpers/auth.ts';
import { assertError, send } from '../helpers/http.ts';
import { type BuiltImage, buildImageLayout } from '../helpers/images.ts';
import { SkopeoError, skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Projects mode through the real server and skopeo: the Bearer challenge points at the built-in
 * token service, which skopeo follows on its own; projects, users, members and robots are made
 * through the management API, and what each may do is what its role or permissions say.
 */
const admin: Credentials = { username: 'admin', password: 'first-admin-password' };
const alice: Credentials = { username: 'alice', password: 'alice-password-1' };
const gary: Credentials = { username: 'gary', password: 'gary-password-1' };

async function refusal(promise: Promise<unknown>, what: string): Promise<SkopeoError> {
  const error = await promise.then(
    () => assert.fail(`${what} succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof SkopeoError, String(error));
  return error;
}

describe('projects mode (auth.projects.enabled) with skopeo', () => {
  let work: string;
  let wharf: WharfProcess;
  let layout: string;
  let image: BuiltImage;
  let robot: Credentials;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-security-projects-'));
    wharf = await startWharf({
      // The text log is read below for the token service's record of what skopeo asked.
      env: { WHARF_ADMIN_PASSWORD: admin.password, REGISTRY_LOG_FORMATTER: 'text' },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
    layout = join(work, 'source');
    image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [{ files: { 'etc/motd': 'pushed into a project\n' } }, { files: { 'opt/data': 'y'.repeat(9000) } }],
    });
  });

  after(async () => {
    await wharf?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('challenges with Bearer: realm the token service at the address used, service, and the scope needed', async () => {
    const base = await send(`${wharf.url}/v2/`);
    assertError(base, 401, 'UNAUTHORIZED');
    assert.equal(
      base.headers.get('www-authenticate'),
      `Bearer realm="http://${wharf.host}/service/token",service="wharf"`,
    );
    const pull = await getManifestAs(wharf.url, 'team/app', 'v1', undefined);
    assertError(pull, 401, 'UNAUTHORIZED');
    assert.equal(
      pull.headers.get('www-authenticate'),
      `Bearer realm="http://${wharf.host}/service/token",service="wharf",scope="repository:team/app:pull"`,
    );
    const push = await call(wharf.url, 'POST', '/v2/team/app/blobs/uploads/', undefined);
    assert.equal(challengeOf(push).params.scope, 'repository:team/app:pull,push');
  });

  it('lets the administrator create a project, users and memberships through the API', async () => {
    await createProject(wharf.url, admin, 'team');
    await createProject(wharf.url, admin, 'other');
    await createUser(wharf.url, admin, alice);
    await createUser(wharf.url, admin, gary);
    await addMember(wharf.url, admin, 'team', alice.username, 'developer');
    await addMember(wharf.url, admin, 'team', gary.username, 'guest');
    const members = await call(wharf.url, 'GET', '/api/v1/projects/team/members', basicOf(admin));
    assert.equal(members.status, 200);
    const roles = members
      .json<{ member_name: string; role: string }[]>()
      .map(({ member_name, role }) => `${member_name}:${role}`)
      .sort();
    assert.deepEqual(roles, ['admin:projectAdmin', 'alice:developer', 'gary:guest']);
  });

  it('takes a skopeo push and pull as the administrator, following the Bearer challenge', async () => {
    const reference = `docker://${wharf.host}/team/base:v1`;
    await skopeo(['copy', '--dest-creds', credsFlag(admin), `oci:${layout}:v1`, reference]);
    const pulled = join(work, 'pulled-admin');
    await skopeo(['copy', '--src-creds', credsFlag(admin), reference, `oci:${pulled}:v1`]);
    await assertSameImage(pulled, 'v1', image);
    // skopeo got its tokens from the token service with the administrator's password.
    assert.match(
      wharf.output(),
      /token issued .*auth\.user\.name=admin auth\.source=local requested=\["repository:team\/base:pull,push"\]/,
    );
  });

  it('lets a developer push and pull with skopeo; the token names the user and the granted scope', async () => {
    const reference = `docker://${wharf.host}/team/app:v1`;
    await skopeo(['copy', '--dest-creds', credsFlag(alice), `oci:${layout}:v1`, reference]);
    const pulled = join(work, 'pulled-alice');
    await skopeo(['copy', '--src-creds', credsFlag(alice), reference, `oci:${pulled}:v1`]);
    await assertSameImage(pulled, 'v1', image);
    const token = await getToken(wharf.url, { as: alice, scopes: ['repository:team/app:pull,push,delete'] });
    assert.equal(token.scope, 'repository:team/app:pull,push');
    const claims = decodeJwt(token.token);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'wharf');
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
  });

  it('lets a guest pull with skopeo but not push', async () => {
    const pulled = join(work, 'pulled-gary');
    await skopeo(['copy', '--src-creds', credsFlag(gary), `docker://${wharf.host}/team/app:v1`, `oci:${pulled}:v1`]);
    await assertSameImage(pulled, 'v1', image);
    const error = await refusal(
      skopeo(['copy', '--dest-creds', credsFlag(gary), `oci:${layout}:v1`, `docker://${wharf.host}/team/app:guest`]),
      'a push by a guest',
    );
    // The token service granted pull only; the registry's insufficient_scope is what skopeo reports.
    assert.match(error.stderr, /requested access to the resource is denied/);
    assert.match(error.stderr, /insufficient scope/);
    const tag = await getManifestAs(wharf.url, 'team/app', 'guest', basicOf(admin));
    assertError(tag, 404, 'MANIFEST_UNKNOWN');
  });

  it('keeps a user out of a project they are not a member of', async () => {
    const error = await refusal(
      skopeo(['copy', '--src-creds', credsFlag(alice), `docker://${wharf.host}/other/none:v1`, `oci:${work}/x:v1`]),
      'a pull from a project without membership',
    );
    assert.match(error.stderr, /requested access to the resource is denied/);
    const token = await getToken(wharf.url, { as: alice, scopes: ['repository:other/none:pull,push'] });
    assert.equal(token.scope, '');
    assert.deepEqual(decodeJwt(token.token).access, []);
  });

  it('creates a robot with push permission, which skopeo uses as robot$team+ci, and nothing beyond', async () => {
    robot = await createRobot(wharf.url, admin, 'team', 'ci', ['pull', 'push']);
    assert.equal(robot.username, 'robot$team+ci');
    const reference = `docker://${wharf.host}/team/ci-built:v1`;
    await skopeo(['copy', '--dest-creds', credsFlag(robot), `oci:${layout}:v1`, reference]);
    const pulled = join(work, 'pulled-robot');
    await skopeo(['copy', '--src-creds', credsFlag(robot), reference, `oci:${pulled}:v1`]);
    await assertSameImage(pulled, 'v1', image);
    const token = await getToken(wharf.url, { as: robot, scopes: ['repository:team/ci-built:pull,push,delete'] });
    assert.equal(token.scope, 'repository:team/ci-built:pull,push');
    assert.equal(decodeJwt(token.token).sub, 'robot$team+ci');

    const error = await refusal(
      skopeo(['copy', '--dest-creds', credsFlag(robot), `oci:${layout}:v1`, `docker://${wharf.host}/other/ci:v1`]),
      'a robot push outside its project',
    );
    assert.match(error.stderr, /requested access to the resource is denied/);
    const outside = await getManifestAs(wharf.url, 'other/ci', 'v1', basicOf(admin));
    assertError(outside, 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
  });

  it('refuses a robot with a wrong secret at the token service, as skopeo reports it', async () => {
    const error = await refusal(
      skopeo([
        'copy',
        '--dest-creds',
        `${robot.username}:not-the-secret`,
        `oci:${layout}:v1`,
        `docker://${wharf.host}/team/ci-built:v2`,
      ]),
      'a push with a wrong robot secret',
    );
    assert.match(error.stderr, /unable to retrieve auth token: invalid username\/password/);
  });

  it('accepts the token skopeo would get, and refuses it once its subject asks for more', async () => {
    const token = await getToken(wharf.url, { as: robot, scopes: ['repository:team/ci-built:pull'] });
    const pull = await getManifestAs(wharf.url, 'team/ci-built', 'v1', bearer(token.token));
    assert.equal(pull.status, 200);
    assert.equal(pull.headers.get('docker-content-digest'), image.manifest.digest);
    const other = await getManifestAs(wharf.url, 'team/app', 'v1', bearer(token.token));
    assertError(other, 401, 'UNAUTHORIZED');
    assert.match(other.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  });
});
