import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertSameImage,
  basic,
  basicOf,
  type Credentials,
  call,
  challengeOf,
  credsFlag,
  getManifestAs,
  pushImageAs,
  writeHtpasswd,
} from '../helpers/auth.ts';
import { assertError, send } from '../helpers/http.ts';
import { type BuiltImage, buildImageLayout } from '../helpers/images.ts';
import { SkopeoError, skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Distribution's htpasswd mode through the real server: a Basic challenge naming the configured
 * realm, any user in the file may push and pull anything, wrong passwords are refused and, after
 * `auth.lockout.attempts` of them, locked out with 429 and Retry-After.
 */
const realm = 'Wharf Test Realm';
const alice: Credentials = { username: 'alice', password: 'alice-secret-1' };
const bob: Credentials = { username: 'bob', password: 'bob-secret-2' };
/** Only ever sent with wrong passwords, so their lockouts touch nobody else. */
const carol: Credentials = { username: 'carol', password: 'carol-secret-3' };
const dave: Credentials = { username: 'dave', password: 'dave-secret-4' };

describe('htpasswd mode (auth.htpasswd)', () => {
  let work: string;
  let wharf: WharfProcess;
  let layout: string;
  let image: BuiltImage;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-security-htpasswd-'));
    const htpasswd = join(work, 'htpasswd');
    await writeHtpasswd(htpasswd, [alice, bob, carol, dave]);
    wharf = await startWharf({
      configYaml: [
        'auth:',
        '  htpasswd:',
        `    realm: ${realm}`,
        `    path: ${htpasswd}`,
        '  lockout:',
        '    attempts: 3',
        '    duration: 10m',
      ].join('\n'),
    });
    layout = join(work, 'source');
    image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [
        { files: { 'etc/motd': 'pushed with htpasswd credentials\n' } },
        { files: { 'bin/tool': 'x'.repeat(5000) } },
      ],
    });
  });

  after(async () => {
    await wharf?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('answers GET /v2/ without credentials with 401 and the Basic challenge of the configured realm', async () => {
    const result = await send(`${wharf.url}/v2/`);
    assertError(result, 401, 'UNAUTHORIZED');
    assert.equal(result.headers.get('www-authenticate'), `Basic realm="${realm}"`);
    assert.equal(result.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  it('answers GET /v2/ with valid credentials with 200', async () => {
    const result = await call(wharf.url, 'GET', '/v2/', basicOf(alice));
    assert.equal(result.status, 200, result.text());
    assert.equal(result.text(), '{}');
  });

  it('round-trips an image byte for byte with skopeo --dest-creds and --src-creds', async () => {
    const reference = `docker://${wharf.host}/alice/app:v1`;
    await skopeo(['copy', '--dest-creds', credsFlag(alice), `oci:${layout}:v1`, reference]);
    const { stdout } = await skopeo(['inspect', '--raw', '--creds', credsFlag(alice), reference]);
    assert.equal(stdout, image.manifestBytes.toString('utf8'), 'skopeo inspect --raw shows the pushed manifest');
    const pulled = join(work, 'pulled');
    await skopeo(['copy', '--src-creds', credsFlag(alice), reference, `oci:${pulled}:v1`]);
    await assertSameImage(pulled, 'v1', image);
  });

  it('refuses to serve the pushed image without credentials (401 with the Basic challenge)', async () => {
    const result = await getManifestAs(wharf.url, 'alice/app', 'v1', undefined);
    assertError(result, 401, 'UNAUTHORIZED');
    assert.equal(challengeOf(result).scheme, 'basic');
    assert.equal(challengeOf(result).params.realm, realm);
  });

  it('lets any user of the file push to any repository, created on first push, and pull what others pushed', async () => {
    const pushed = await pushImageAs(wharf.url, 'alice/app', 'from-bob', basicOf(bob));
    await pushImageAs(wharf.url, 'nobody/owns/this', 'v1', basicOf(bob));
    const byAlice = await getManifestAs(wharf.url, 'alice/app', 'from-bob', basicOf(alice));
    assert.equal(byAlice.status, 200);
    assert.ok(byAlice.body.equals(pushed.manifest), 'alice pulls the bytes bob pushed');
    const catalog = await call(wharf.url, 'GET', '/v2/_catalog', basicOf(alice));
    assert.equal(catalog.status, 200);
    assert.deepEqual(catalog.json(), { repositories: ['alice/app', 'nobody/owns/this'] });
  });

  it('refuses a wrong password with 401 and the challenge, and skopeo fails with an authentication error', async () => {
    const result = await call(wharf.url, 'GET', '/v2/', basic(carol.username, 'not-the-password'));
    assertError(result, 401, 'UNAUTHORIZED');
    assert.equal(result.headers.get('www-authenticate'), `Basic realm="${realm}"`);

    const error = await skopeo([
      'copy',
      '--dest-creds',
      `${dave.username}:wrong-password`,
      `oci:${layout}:v1`,
      `docker://${wharf.host}/dave/app:v1`,
    ]).then(
      () => assert.fail('skopeo copy succeeded with a wrong password'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof SkopeoError);
    // skopeo's first request is a HEAD, whose 401 has no body: it reports the status.
    assert.match(error.stderr, /unauthorized: authentication required/);
    const nothing = await getManifestAs(wharf.url, 'dave/app', 'v1', basicOf(alice));
    assertError(nothing, 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
  });

  it('refuses an unknown user like a wrong password', async () => {
    const result = await call(wharf.url, 'GET', '/v2/', basic('mallory', 'alice-secret-1'));
    assertError(result, 401, 'UNAUTHORIZED');
    assert.equal(result.headers.get('www-authenticate'), `Basic realm="${realm}"`);
  });

  it('locks an account out after auth.lockout.attempts wrong passwords: 429 TOOMANYREQUESTS with Retry-After', async () => {
    const target = { username: carol.username, password: 'guess' };
    // carol had one failure already; two more reach the limit of three.
    for (const attempt of [2, 3]) {
      const result = await call(wharf.url, 'GET', '/v2/', basic(target.username, `guess-${attempt}`));
      assertError(result, 401, 'UNAUTHORIZED');
    }
    const locked = await call(wharf.url, 'GET', '/v2/', basicOf(carol));
    assertError(locked, 429, 'TOOMANYREQUESTS');
    const retryAfter = Number(locked.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 600, `Retry-After ${retryAfter}`);
    const pushLocked = await call(wharf.url, 'POST', '/v2/carol/app/blobs/uploads/', basicOf(carol));
    assertError(pushLocked, 429, 'TOOMANYREQUESTS');
    // The lock is carol's: alice still gets in.
    assert.equal((await call(wharf.url, 'GET', '/v2/', basicOf(alice))).status, 200);
  });
});
