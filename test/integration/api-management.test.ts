import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { AuthServices, LoginLimiter } from '../../src/auth/auth-services.ts';
import { LocalUserAuthenticator } from '../../src/auth/identities/local-user-authenticator.ts';
import { LocalUsers } from '../../src/auth/identities/local-users.ts';
import { RobotAuthenticator } from '../../src/auth/identities/robot-authenticator.ts';
import { Robots } from '../../src/auth/identities/robots.ts';
import { ProjectAuthorizer } from '../../src/auth/projects/project-authorizer.ts';
import { registerManagementApi } from '../../src/http/api/management-api.ts';
import { userRoutes } from '../../src/http/api/users-routes.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { IdentityStore } from '../../src/metadata/identity-store.ts';
import { MetadataStore } from '../../src/metadata/metadata-store.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { ProjectStore } from '../../src/metadata/project-store.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { RegistryService } from '../../src/registry/registry-service.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';

/**
 * The management API on a real registry in this process: SQLite and the filesystem in a temp dir,
 * local users and robots checked from Basic credentials by the real authenticators, the projects
 * authorizer deciding every /v2/ request, everything over real HTTP.
 */
const noLockout: LoginLimiter = {
  retryAfter: async () => 0,
  recordFailure: async () => {},
  recordSuccess: async () => {},
};

type Credentials = [string, string];
const admin: Credentials = ['admin', 'admin-password'];
const alice: Credentials = ['alice', 'alice-password'];
const bob: Credentials = ['bob', 'bob-password'];
const carol: Credentials = ['carol', 'carol-password'];

let dir: string;
let db: Kysely<Database>;
let app: FastifyInstance;
let base: string;
/** Names the API reported as having changed credentials, in order. */
const changedCredentials: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-api-'));
  db = await openSqlite(join(dir, 'metadata.db'));
  const storage = new FilesystemDriver(join(dir, 'storage'));
  await storage.init();
  const metadata = new MetadataStore(db);
  const registry = new RegistryService(storage, metadata, { deleteEnabled: true, readOnly: false });
  const identities = new IdentityStore(db);
  const users = new LocalUsers(identities);
  const robots = new Robots(identities);
  const projects = new ProjectStore(db);
  const authorizer = new ProjectAuthorizer(projects, { autoCreate: false, creators: 'users' });
  await users.create({ username: admin[0], password: admin[1], admin: true });
  for (const [username, password] of [alice, bob, carol]) await users.create({ username, password });

  const auth: AuthServices = {
    enabled: true,
    chain: [new RobotAuthenticator(robots), new LocalUserAuthenticator(users)],
    basic: true,
    authorizer,
    tokens: undefined,
    limiter: noLockout,
    challenge: { scheme: 'basic', realm: 'wharf' },
    preparePush: (principal, repository) => authorizer.preparePush(principal, repository),
  };
  const server = createHttpServer({
    logger: createLogger({ level: 'error', formatter: 'json', fields: {} }),
    metrics: createMetrics(),
    registry,
    auth,
    healthChecks: [],
    accessLog: false,
    headers: {},
    externalURL: undefined,
    metricsPath: undefined,
  });
  app = server.app;
  const identify = server.access.identify.bind(server.access);
  const unauthorized = (message: string) => server.access.unauthorized(message, []);
  registerManagementApi(app, {
    identify,
    unauthorized,
    projects,
    authorizer,
    robots,
    credentialsChanged: (name) => changedCredentials.push(name),
    routes: userRoutes({ users, identify, unauthorized }),
    version: 'test',
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  base = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await app?.close();
  await db?.destroy();
  await rm(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: () => unknown;
}

function basic([username, password]: Credentials): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

async function call(
  method: string,
  path: string,
  options: { as?: Credentials; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.as) headers.authorization = basic(options.as);
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${base}${path}`, { method, headers, body, redirect: 'manual' });
  const text = await response.text();
  assert.ok(response.status < 500, `${method} ${path} answered ${response.status}: ${text}`);
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}

function errorOf(answer: Answer): { code: string; message: string } {
  const body = answer.json() as { errors: { code: string; message: string }[] };
  assert.equal(body.errors.length, 1);
  return body.errors[0]!;
}

const emptyConfig = Buffer.from('{}');
const emptyDigest = `sha256:${createHash('sha256').update(emptyConfig).digest('hex')}`;

/** Pushes a one-layer image (the empty JSON as config and layer) and returns the manifest digest. */
async function pushImage(
  as: Credentials,
  repository: string,
  tag: string,
): Promise<{ status: number; digest: string }> {
  const blob = await fetch(`${base}/v2/${repository}/blobs/uploads/?digest=${emptyDigest}`, {
    method: 'POST',
    headers: { authorization: basic(as), 'content-type': 'application/octet-stream' },
    body: emptyConfig,
  });
  await blob.arrayBuffer();
  if (blob.status !== 201) return { status: blob.status, digest: '' };
  const descriptor = { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor,
      layers: [descriptor],
    }),
  );
  const put = await fetch(`${base}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { authorization: basic(as), 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  await put.arrayBuffer();
  return { status: put.status, digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}` };
}

describe('projects', () => {
  test('anonymous callers see no private project and must authenticate to create one', async () => {
    const list = await call('GET', '/api/v1/projects');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json(), []);
    assert.equal(list.headers.get('x-total-count'), '0');
    const create = await call('POST', '/api/v1/projects', { body: { name: 'nope' } });
    assert.equal(create.status, 401);
    assert.equal(errorOf(create).code, 'UNAUTHORIZED');
    assert.equal(create.headers.get('www-authenticate'), 'Basic realm="wharf"');
  });

  test('a user creates a private project and becomes its project admin', async () => {
    const created = await call('POST', '/api/v1/projects', { as: alice, body: { name: 'team' } });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), '/api/v1/projects/team');
    const project = created.json() as Record<string, unknown>;
    assert.equal(project.name, 'team');
    assert.equal(project.public, false);
    assert.equal(project.created_by, 'alice');
    assert.equal(project.current_user_role, 'projectAdmin');
    assert.equal(project.repo_count, 0);
    assert.match(String(project.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const again = await call('POST', '/api/v1/projects', { as: bob, body: { name: 'team', public: true } });
    assert.equal(again.status, 409);
    assert.equal(errorOf(again).message, 'project team already exists');

    const members = await call('GET', '/api/v1/projects/team/members', { as: alice });
    assert.deepEqual(
      (members.json() as { member_kind: string; member_name: string; role: string }[]).map((member) => [
        member.member_kind,
        member.member_name,
        member.role,
      ]),
      [['user', 'alice', 'projectAdmin']],
    );
  });

  test('bad names and bodies are refused with 400 and what is wrong', async () => {
    const badName = await call('POST', '/api/v1/projects', { as: alice, body: { name: 'Team!' } });
    assert.equal(badName.status, 400);
    assert.equal(errorOf(badName).code, 'UNSUPPORTED');
    assert.match(errorOf(badName).message, /^invalid request body: name: a project name is lower-case letters/);
    const extra = await call('POST', '/api/v1/projects', { as: alice, body: { name: 'ok', owner: 'x' } });
    assert.equal(extra.status, 400);
    assert.match(errorOf(extra).message, /Unrecognized key: "owner"/);
    const notJson = await call('POST', '/api/v1/projects', {
      as: alice,
      raw: '{"name":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(notJson.status, 400);
    assert.equal(errorOf(notJson).message, 'the request body is not valid JSON');
    const wrongType = await call('POST', '/api/v1/projects', {
      as: alice,
      raw: 'name=team',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(wrongType.status, 415);
    const huge = await call('POST', '/api/v1/projects', {
      as: alice,
      body: { name: 'big', padding: 'x'.repeat(70 * 1024) },
    });
    assert.equal(huge.status, 413);
    const badPath = await call('GET', '/api/v1/projects/Not..Valid', { as: alice });
    assert.equal(badPath.status, 400);
    assert.equal(errorOf(badPath).code, 'NAME_INVALID');
  });

  test('a private project is invisible to others; the public flag shows it to everyone', async () => {
    assert.equal((await call('GET', '/api/v1/projects/team', { as: bob })).status, 404);
    assert.equal((await call('GET', '/api/v1/projects/team')).status, 401);
    assert.equal((await call('GET', '/api/v1/projects/missing', { as: bob })).status, 404);
    assert.deepEqual((await call('GET', '/api/v1/projects', { as: bob })).json(), []);

    const refused = await call('PUT', '/api/v1/projects/team', { as: bob, body: { public: true } });
    assert.equal(refused.status, 404);
    const published = await call('PUT', '/api/v1/projects/team', { as: alice, body: { public: true } });
    assert.equal(published.status, 200);
    assert.equal((published.json() as { public: boolean }).public, true);

    const seen = await call('GET', '/api/v1/projects/team');
    assert.equal(seen.status, 200);
    assert.equal((seen.json() as { current_user_role: unknown }).current_user_role, null);
    const listed = await call('GET', '/api/v1/projects', { as: bob });
    assert.deepEqual(
      (listed.json() as { name: string }[]).map((project) => project.name),
      ['team'],
    );
    // Seeing a public project is not managing it.
    const bobChanges = await call('PUT', '/api/v1/projects/team', { as: bob, body: { public: false } });
    assert.equal(bobChanges.status, 403);
    assert.equal(errorOf(bobChanges).message, 'you may not change project team');

    await call('PUT', '/api/v1/projects/team', { as: alice, body: { public: false } });
    assert.equal((await call('GET', '/api/v1/projects/team')).status, 401);
  });

  test('listings are paged with X-Total-Count and Link as Harbor does', async () => {
    for (let index = 0; index < 11; index += 1) {
      const created = await call('POST', '/api/v1/projects', { as: admin, body: { name: `page${index}` } });
      assert.equal(created.status, 201);
    }
    const page = await call('GET', '/api/v1/projects?page=2&page_size=5', { as: admin });
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('x-total-count'), '12');
    // Names sort as text: page0, page1, page10, page2, …, page9, team.
    assert.deepEqual(
      (page.json() as { name: string }[]).map((project) => project.name),
      ['page4', 'page5', 'page6', 'page7', 'page8'],
    );
    assert.equal(
      page.headers.get('link'),
      '</api/v1/projects?page=1&page_size=5>; rel="prev", </api/v1/projects?page=3&page_size=5>; rel="next"',
    );
    const last = await call('GET', '/api/v1/projects?page=3&page_size=5', { as: admin });
    assert.deepEqual(
      (last.json() as { name: string }[]).map((project) => project.name),
      ['page9', 'team'],
    );
    assert.equal(last.headers.get('link'), '</api/v1/projects?page=2&page_size=5>; rel="prev"');
    const tooBig = await call('GET', '/api/v1/projects?page_size=101', { as: admin });
    assert.equal(tooBig.status, 400);
    assert.equal(errorOf(tooBig).code, 'PAGINATION_NUMBER_INVALID');
    // Alice sees only her own project among them.
    assert.equal((await call('GET', '/api/v1/projects', { as: alice })).headers.get('x-total-count'), '1');
  });
});

let appDigest = '';

describe('members', () => {
  let bobId: number;

  test('a project admin adds a member; a guest sees the members but cannot add any', async () => {
    const added = await call('POST', '/api/v1/projects/team/members', {
      as: alice,
      body: { member_kind: 'user', member_name: 'bob', role: 'guest' },
    });
    assert.equal(added.status, 201);
    const member = added.json() as { id: number; role: string };
    bobId = member.id;
    assert.equal(added.headers.get('location'), `/api/v1/projects/team/members/${bobId}`);
    assert.equal(member.role, 'guest');

    const seen = await call('GET', '/api/v1/projects/team/members', { as: bob });
    assert.equal(seen.status, 200);
    assert.equal((seen.json() as unknown[]).length, 2);
    const refused = await call('POST', '/api/v1/projects/team/members', {
      as: bob,
      body: { member_kind: 'user', member_name: 'carol', role: 'developer' },
    });
    assert.equal(refused.status, 403);
    assert.equal(errorOf(refused).code, 'DENIED');
    assert.equal(errorOf(refused).message, 'you may not manage the members of project team');
    const twice = await call('POST', '/api/v1/projects/team/members', {
      as: alice,
      body: { member_kind: 'user', member_name: 'bob', role: 'developer' },
    });
    assert.equal(twice.status, 409);
  });

  test('roles decide what a member may do in the registry', async () => {
    // Bob is a guest: no push. Carol is no member: the project is private.
    assert.equal((await pushImage(bob, 'team/app', 'v1')).status, 403);
    assert.equal((await pushImage(carol, 'team/app', 'v1')).status, 403);
    const promoted = await call('PUT', `/api/v1/projects/team/members/${bobId}`, {
      as: alice,
      body: { role: 'developer' },
    });
    assert.equal(promoted.status, 200);
    assert.equal((promoted.json() as { role: string }).role, 'developer');
    const pushed = await pushImage(bob, 'team/app', 'v1');
    assert.equal(pushed.status, 201);
    appDigest = pushed.digest;

    const catalog = async (as: Credentials) =>
      (
        (await (await fetch(`${base}/v2/_catalog`, { headers: { authorization: basic(as) } })).json()) as {
          repositories: string[];
        }
      ).repositories;
    assert.deepEqual(await catalog(bob), ['team/app']);
    assert.deepEqual(await catalog(carol), []);
  });

  test('a push into a project that does not exist is 404 naming the project', async () => {
    const response = await fetch(`${base}/v2/nothere/app/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: basic(alice) },
    });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, 'NAME_UNKNOWN');
    assert.equal(body.errors[0]?.message, 'project nothere does not exist');
  });

  test('the last project admin can be neither removed nor demoted', async () => {
    const members = (await call('GET', '/api/v1/projects/team/members', { as: alice })).json() as {
      id: number;
      member_name: string;
    }[];
    const aliceId = members.find((member) => member.member_name === 'alice')!.id;
    const demote = await call('PUT', `/api/v1/projects/team/members/${aliceId}`, {
      as: alice,
      body: { role: 'guest' },
    });
    assert.equal(demote.status, 409);
    assert.equal(errorOf(demote).message, 'a project keeps at least one project admin; add another one first');
    assert.equal((await call('DELETE', `/api/v1/projects/team/members/${aliceId}`, { as: alice })).status, 409);
  });

  test('a project admin removes a member, who then loses access', async () => {
    assert.equal((await call('DELETE', `/api/v1/projects/team/members/${bobId}`, { as: alice })).status, 204);
    assert.equal((await call('GET', `/api/v1/projects/team/members/${bobId}`, { as: alice })).status, 404);
    assert.equal((await call('GET', '/api/v1/projects/team', { as: bob })).status, 404);
    assert.equal((await pushImage(bob, 'team/app', 'v2')).status, 403);
  });
});

describe('deleting a project', () => {
  test('is refused while it holds repositories, and allowed once they are gone', async () => {
    const lint = await pushImage(alice, 'team/tools/lint', 'v1');
    assert.equal(lint.status, 201);
    const refused = await call('DELETE', '/api/v1/projects/team', { as: alice });
    assert.equal(refused.status, 412);
    assert.equal(errorOf(refused).code, 'DENIED');
    assert.equal(errorOf(refused).message, 'project team still holds 2 repositories; delete them first');
    const project = (await call('GET', '/api/v1/projects/team', { as: alice })).json() as { repo_count: number };
    assert.equal(project.repo_count, 2);

    for (const [repository, digest] of [
      ['team/tools/lint', lint.digest],
      ['team/app', appDigest],
    ] as const) {
      const response = await fetch(`${base}/v2/${repository}/manifests/${digest}`, {
        method: 'DELETE',
        headers: { authorization: basic(alice) },
      });
      await response.arrayBuffer();
      assert.equal(response.status, 202, `DELETE ${repository}@${digest}`);
    }
    const deleted = await call('DELETE', '/api/v1/projects/team', { as: alice });
    assert.equal(deleted.status, 204);
    assert.equal((await call('GET', '/api/v1/projects/team', { as: alice })).status, 404);
  });
});

describe('robot accounts', () => {
  let secret = '';
  const robotName = 'robot$ci+builder';

  test('a project admin creates a robot; the secret is in that answer and never again', async () => {
    assert.equal((await call('POST', '/api/v1/projects', { as: alice, body: { name: 'ci' } })).status, 201);
    const before = Date.now();
    const created = await call('POST', '/api/v1/projects/ci/robots', {
      as: alice,
      body: { name: 'builder', description: 'builds', actions: ['pull', 'push'] },
    });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), '/api/v1/projects/ci/robots/builder');
    const robot = created.json() as Record<string, unknown>;
    assert.equal(robot.name, robotName);
    assert.equal(robot.project, 'ci');
    assert.equal(robot.created_by, 'alice');
    assert.deepEqual(robot.permissions, [{ project: 'ci', actions: ['pull', 'push'] }]);
    const expires = Date.parse(String(robot.expires_at));
    assert.ok(Math.abs(expires - before - 30 * 86_400_000) < 60_000, `expires_at ${robot.expires_at}`);
    assert.equal(typeof robot.secret, 'string');
    secret = String(robot.secret);
    assert.ok(secret.length >= 32);

    const one = await call('GET', '/api/v1/projects/ci/robots/builder', { as: alice });
    assert.equal(one.status, 200);
    assert.equal((one.json() as { name: string }).name, robotName);
    assert.ok(!one.text.includes(secret));
    assert.ok(!('secret' in (one.json() as object)));
    const list = await call('GET', '/api/v1/projects/ci/robots', { as: alice });
    assert.deepEqual(
      (list.json() as { name: string }[]).map((entry) => entry.name),
      [robotName],
    );
    assert.ok(!list.text.includes('secret'));

    const twice = await call('POST', '/api/v1/projects/ci/robots', {
      as: alice,
      body: { name: 'builder', actions: ['pull'] },
    });
    assert.equal(twice.status, 409);
  });

  test('the robot logs in and does what its permissions say, and nothing more', async () => {
    const robot: Credentials = [robotName, secret];
    const ping = await fetch(`${base}/v2/`, { headers: { authorization: basic(robot) } });
    await ping.arrayBuffer();
    assert.equal(ping.status, 200);
    assert.equal((await pushImage(robot, 'ci/app', 'v1')).status, 201);

    // A membership with a higher role elsewhere gives the robot nothing there.
    assert.equal((await call('POST', '/api/v1/projects', { as: carol, body: { name: 'other' } })).status, 201);
    const member = await call('POST', '/api/v1/projects/other/members', {
      as: carol,
      body: { member_kind: 'robot', member_name: robotName, role: 'projectAdmin' },
    });
    assert.equal(member.status, 201);
    assert.equal((await pushImage(robot, 'other/app', 'v1')).status, 403);
    // Nor may a robot manage anything.
    const create = await call('POST', '/api/v1/projects', { as: robot, body: { name: 'robotmade' } });
    assert.equal(create.status, 403);
    assert.equal(errorOf(create).message, 'robot accounts may not create projects');
  });

  test('who may see the robots of a project follows the role', async () => {
    assert.equal((await call('GET', '/api/v1/projects/ci/robots', { as: bob })).status, 404);
    const added = await call('POST', '/api/v1/projects/ci/members', {
      as: alice,
      body: { member_kind: 'user', member_name: 'bob', role: 'limitedGuest' },
    });
    const bobId = (added.json() as { id: number }).id;
    assert.equal((await call('GET', '/api/v1/projects/ci/robots', { as: bob })).status, 403);
    assert.equal((await call('GET', '/api/v1/projects/ci/members', { as: bob })).status, 403);
    await call('PUT', `/api/v1/projects/ci/members/${bobId}`, { as: alice, body: { role: 'guest' } });
    assert.equal((await call('GET', '/api/v1/projects/ci/robots', { as: bob })).status, 200);
    const create = await call('POST', '/api/v1/projects/ci/robots', {
      as: bob,
      body: { name: 'mine', actions: ['pull'] },
    });
    assert.equal(create.status, 403);
  });

  test('rotating the secret retires the old one; disabling stops the robot', async () => {
    const rotate = async () => {
      const rotated = await call('POST', '/api/v1/projects/ci/robots/builder/secret', { as: alice });
      assert.equal(rotated.status, 200);
      const body = rotated.json() as { name: string; secret: string };
      assert.equal(body.name, robotName);
      return body.secret;
    };
    const ping = async (password: string) => {
      const response = await fetch(`${base}/v2/`, { headers: { authorization: basic([robotName, password]) } });
      await response.arrayBuffer();
      return response.status;
    };
    const retired = await rotate();
    const fresh = await rotate();
    assert.notEqual(retired, secret);
    assert.notEqual(fresh, retired);
    assert.equal(await ping(retired), 401);
    assert.equal(await ping(fresh), 200);
    assert.deepEqual(changedCredentials, [robotName, robotName]);

    const disabled = await call('PATCH', '/api/v1/projects/ci/robots/builder', {
      as: alice,
      body: { disabled: true, actions: ['pull'], duration: -1 },
    });
    assert.equal(disabled.status, 200);
    const robot = disabled.json() as { disabled: boolean; expires_at: unknown; permissions: unknown };
    assert.equal(robot.disabled, true);
    assert.equal(robot.expires_at, null);
    assert.deepEqual(robot.permissions, [{ project: 'ci', actions: ['pull'] }]);
    assert.equal(await ping(await rotate()), 401);

    assert.equal((await call('DELETE', '/api/v1/projects/ci/robots/builder', { as: alice })).status, 204);
    assert.equal((await call('GET', '/api/v1/projects/ci/robots/builder', { as: alice })).status, 404);
  });

  test('system robots are for administrators and may span projects', async () => {
    const refused = await call('POST', '/api/v1/robots', {
      as: alice,
      body: { name: 'sync', permissions: [{ project: '*', actions: ['pull'] }] },
    });
    assert.equal(refused.status, 403);
    const missing = await call('POST', '/api/v1/robots', {
      as: admin,
      body: { name: 'sync', permissions: [{ project: 'nothere', actions: ['pull'] }] },
    });
    assert.equal(missing.status, 404);
    assert.equal(errorOf(missing).message, 'project nothere does not exist');
    const created = await call('POST', '/api/v1/robots', {
      as: admin,
      body: { name: 'sync', duration: -1, permissions: [{ project: '*', actions: ['pull'] }] },
    });
    assert.equal(created.status, 201);
    const robot = created.json() as { name: string; secret: string; expires_at: unknown; project: unknown };
    assert.equal(robot.name, 'robot$sync');
    assert.equal(robot.project, null);
    assert.equal(robot.expires_at, null);
    const pull = await fetch(`${base}/v2/ci/app/manifests/v1`, {
      headers: {
        authorization: basic([robot.name, robot.secret]),
        accept: 'application/vnd.oci.image.manifest.v1+json',
      },
    });
    await pull.arrayBuffer();
    assert.equal(pull.status, 200);
    const listed = await call('GET', '/api/v1/robots', { as: admin });
    assert.deepEqual(
      (listed.json() as { name: string }[]).map((entry) => entry.name),
      ['robot$sync'],
    );
    assert.ok(!listed.text.includes(robot.secret));
    // Project robots are not system robots.
    assert.equal((await call('GET', '/api/v1/robots/builder', { as: admin })).status, 404);
  });

  test('deleting a project deletes its robots', async () => {
    await call('POST', '/api/v1/projects', { as: alice, body: { name: 'brief' } });
    const created = await call('POST', '/api/v1/projects/brief/robots', {
      as: alice,
      body: { name: 'bot', actions: ['pull'] },
    });
    const robot = created.json() as { name: string; secret: string };
    assert.equal((await call('DELETE', '/api/v1/projects/brief', { as: alice })).status, 204);
    assert.equal(changedCredentials.at(-1), 'robot$brief+bot');
    const ping = await fetch(`${base}/v2/`, { headers: { authorization: basic([robot.name, robot.secret]) } });
    await ping.arrayBuffer();
    assert.equal(ping.status, 401);
  });
});

describe('the OpenAPI document', () => {
  test('parses and describes every /api/v1 route, from the schemas that validate them', async () => {
    const answer = await call('GET', '/api/v1/openapi.json');
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    const document = answer.json() as {
      openapi: string;
      servers: { url: string }[];
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    assert.equal(document.openapi, '3.1.0');
    assert.deepEqual(document.servers, [{ url: '/api/v1' }]);
    const operations = Object.entries(document.paths)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(
      operations,
      [
        'GET /openapi.json',
        'GET /projects',
        'POST /projects',
        'GET /projects/{name}',
        'PUT /projects/{name}',
        'DELETE /projects/{name}',
        'GET /projects/{name}/members',
        'POST /projects/{name}/members',
        'GET /projects/{name}/members/{id}',
        'PUT /projects/{name}/members/{id}',
        'DELETE /projects/{name}/members/{id}',
        'GET /projects/{name}/robots',
        'POST /projects/{name}/robots',
        'GET /projects/{name}/robots/{robot}',
        'PATCH /projects/{name}/robots/{robot}',
        'DELETE /projects/{name}/robots/{robot}',
        'POST /projects/{name}/robots/{robot}/secret',
        'GET /robots',
        'POST /robots',
        'GET /robots/{robot}',
        'PATCH /robots/{robot}',
        'DELETE /robots/{robot}',
        'POST /robots/{robot}/secret',
        'GET /users',
        'POST /users',
        'GET /users/current',
        'PUT /users/current/password',
        'GET /users/{name}',
        'PATCH /users/{name}',
        'DELETE /users/{name}',
      ].sort(),
    );

    const create = document.paths['/projects']!.post!;
    const body = (create.requestBody as { content: Record<string, { schema: Record<string, unknown> }> }).content[
      'application/json'
    ]!.schema as { properties: Record<string, { pattern?: string; default?: unknown }>; required: string[] };
    assert.equal(body.properties.name?.pattern, '^[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*$');
    assert.equal(body.properties.public?.default, false);
    assert.deepEqual(body.required, ['name']);
    assert.deepEqual(create.security, [{ basic: [] }, { bearer: [] }]);
    assert.deepEqual(document.paths['/projects']!.get!.security, [{}, { basic: [] }, { bearer: [] }]);
    const parameters = document.paths['/projects/{name}/members/{id}']!.put!.parameters as {
      name: string;
      in: string;
      required: boolean;
    }[];
    assert.deepEqual(
      parameters.map((parameter) => [parameter.name, parameter.in, parameter.required]),
      [
        ['name', 'path', true],
        ['id', 'path', true],
      ],
    );
    const listParameters = document.paths['/projects']!.get!.parameters as { name: string; in: string }[];
    assert.deepEqual(
      listParameters.map((parameter) => `${parameter.in}:${parameter.name}`),
      ['query:page', 'query:page_size'],
    );
    const responses = document.paths['/projects']!.get!.responses as Record<string, { headers?: object }>;
    assert.deepEqual(Object.keys(responses['200']?.headers ?? {}), ['X-Total-Count', 'Link']);
  });
});
