import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kysely, KyselyPlugin } from 'kysely';
import type { ResourceAccess } from '../../src/auth/access.ts';
import { anonymous, type Principal, type ProjectPermission } from '../../src/auth/principal.ts';
import { ProjectAuthorizer } from '../../src/auth/projects/project-authorizer.ts';
import { projectOf } from '../../src/auth/projects/project-name.ts';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { type MemberRole, memberRoles, ProjectStore } from '../../src/metadata/project-store.ts';
import type { Database } from '../../src/metadata/schema.ts';
import { RegistryError } from '../../src/oci/errors.ts';

function user(name: string, groups: string[] = []): Principal {
  return { name, source: 'local', groups, admin: false };
}
function admin(name = 'root'): Principal {
  return { name, source: 'local', groups: [], admin: true };
}
function robot(name: string, permissions: ProjectPermission[]): Principal {
  return { name, source: 'robot', groups: [], admin: false, permissions };
}
function repo(name: string, actions: string[]): ResourceAccess {
  return { type: 'repository', name, actions };
}

/** The actions granted on one repository, sorted. */
async function actionsOn(authorizer: ProjectAuthorizer, principal: Principal, repository: string): Promise<string[]> {
  const granted = await authorizer.grant(principal, [repo(repository, ['pull', 'push', 'delete'])]);
  assert.ok(granted.length <= 1);
  return [...(granted[0]?.actions ?? [])].sort();
}

let dir: string;
let db: Kysely<Database>;
let store: ProjectStore;
let authorizer: ProjectAuthorizer;
let queries = 0;

const countQueries: KyselyPlugin = {
  transformQuery(args) {
    queries += 1;
    return args.node;
  },
  async transformResult(args) {
    return args.result;
  },
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-rbac-'));
  db = await openSqlite(join(dir, 'metadata.db'));
  store = new ProjectStore(db.withPlugin(countQueries));
  authorizer = new ProjectAuthorizer(store, { autoCreate: false, creators: 'users' });

  // One private project with one user per role, a public one, and one reached through groups.
  await store.createProject(
    { name: 'team', public: false, createdBy: 'owner' },
    memberRoles.map((role) => ({ kind: 'user' as const, name: `${role.toLowerCase()}-user`, role })),
  );
  await store.createProject({ name: 'open', public: true, createdBy: 'owner' }, [
    { kind: 'user', name: 'developer-user', role: 'developer' },
  ]);
  await store.createProject({ name: 'grouped', public: false, createdBy: 'owner' }, [
    { kind: 'group', name: 'devs', role: 'developer' },
    { kind: 'group', name: 'ops', role: 'maintainer' },
    { kind: 'user', name: 'carol', role: 'guest' },
    // A robot listed as a member, with a role above its permissions: the role must not count.
    { kind: 'robot', name: 'robot$grouped+ci', role: 'projectAdmin' },
    { kind: 'user', name: 'robot$grouped+ci', role: 'projectAdmin' },
  ]);
});

after(async () => {
  await db.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('project of a repository', () => {
  test('is the first path component, or the whole one-component name', () => {
    assert.equal(projectOf('team/app'), 'team');
    assert.equal(projectOf('team/tools/lint'), 'team');
    assert.equal(projectOf('app'), 'app');
    assert.equal(authorizer.projectOf('a.b/c'), 'a.b');
  });
});

describe('roles on a private project', () => {
  const expected: Record<MemberRole, string[]> = {
    projectAdmin: ['delete', 'pull', 'push'],
    maintainer: ['delete', 'pull', 'push'],
    developer: ['pull', 'push'],
    guest: ['pull'],
    limitedGuest: ['pull'],
  };
  for (const role of memberRoles) {
    test(`${role} may ${expected[role].join(', ')}`, async () => {
      assert.deepEqual(await actionsOn(authorizer, user(`${role.toLowerCase()}-user`), 'team/app'), expected[role]);
      // Nested repositories belong to the same project.
      assert.deepEqual(await actionsOn(authorizer, user(`${role.toLowerCase()}-user`), 'team/a/b'), expected[role]);
    });
  }

  test('each action asked alone is granted or refused alone', async () => {
    const guest = user('guest-user');
    assert.deepEqual(await authorizer.grant(guest, [repo('team/app', ['pull'])]), [repo('team/app', ['pull'])]);
    assert.deepEqual(await authorizer.grant(guest, [repo('team/app', ['push'])]), []);
    assert.deepEqual(await authorizer.grant(guest, [repo('team/app', ['delete'])]), []);
    const developer = user('developer-user');
    assert.deepEqual(await authorizer.grant(developer, [repo('team/app', ['delete'])]), []);
    assert.deepEqual(await authorizer.grant(developer, [repo('team/app', ['push'])]), [repo('team/app', ['push'])]);
  });

  test('a user who is not a member gets nothing', async () => {
    assert.deepEqual(await actionsOn(authorizer, user('stranger'), 'team/app'), []);
  });

  test('"*" is granted only to a role holding every action', async () => {
    assert.deepEqual(await authorizer.grant(user('maintainer-user'), [repo('team/app', ['*'])]), [
      repo('team/app', ['*']),
    ]);
    assert.deepEqual(await authorizer.grant(user('developer-user'), [repo('team/app', ['*'])]), []);
  });

  test('several repositories in one request are answered each for its own project', async () => {
    const granted = await authorizer.grant(user('developer-user'), [
      repo('team/app', ['pull', 'push']),
      repo('open/base', ['pull', 'push']),
      repo('grouped/x', ['pull']),
    ]);
    assert.deepEqual(granted, [repo('team/app', ['pull', 'push']), repo('open/base', ['pull', 'push'])]);
  });
});

describe('groups', () => {
  test('a group membership gives the group role', async () => {
    assert.deepEqual(await actionsOn(authorizer, user('dave', ['devs']), 'grouped/app'), ['pull', 'push']);
  });

  test('the highest role wins among direct and group memberships', async () => {
    assert.deepEqual(await actionsOn(authorizer, user('carol'), 'grouped/app'), ['pull']);
    assert.deepEqual(await actionsOn(authorizer, user('carol', ['devs']), 'grouped/app'), ['pull', 'push']);
    assert.deepEqual(await actionsOn(authorizer, user('carol', ['devs', 'ops']), 'grouped/app'), [
      'delete',
      'pull',
      'push',
    ]);
  });

  test('a group with the name of a member user is not that user', async () => {
    assert.deepEqual(await actionsOn(authorizer, user('erin', ['carol']), 'grouped/app'), []);
  });
});

describe('robots', () => {
  test('get exactly their permissions, even when a membership would give more', async () => {
    const ci = robot('robot$grouped+ci', [{ project: 'grouped', actions: ['pull'] }]);
    assert.deepEqual(await actionsOn(authorizer, ci, 'grouped/app'), ['pull']);
  });

  test('get nothing on projects their permissions do not name', async () => {
    const ci = robot('robot$grouped+ci', [{ project: 'grouped', actions: ['pull', 'push'] }]);
    assert.deepEqual(await actionsOn(authorizer, ci, 'team/app'), []);
    // A public project is pullable by anyone, robots included; pushing there needs a permission.
    assert.deepEqual(await actionsOn(authorizer, ci, 'open/app'), ['pull']);
  });

  test('a system robot on "*" reaches every existing project, and no missing one', async () => {
    const sync = robot('robot$sync', [{ project: '*', actions: ['pull'] }]);
    assert.deepEqual(await actionsOn(authorizer, sync, 'team/app'), ['pull']);
    assert.deepEqual(await actionsOn(authorizer, sync, 'grouped/app'), ['pull']);
    assert.deepEqual(await actionsOn(authorizer, sync, 'missing/app'), []);
  });

  test('a "*" action means pull, push and delete; unknown actions mean nothing', async () => {
    const all = robot('robot$team+all', [{ project: 'team', actions: ['*', 'scan'] }]);
    assert.deepEqual(await actionsOn(authorizer, all, 'team/app'), ['delete', 'pull', 'push']);
    const odd = robot('robot$team+odd', [{ project: 'team', actions: ['scan'] }]);
    assert.deepEqual(await actionsOn(authorizer, odd, 'team/app'), []);
  });

  test('a robot name without permissions gets nothing, whatever its memberships', async () => {
    const bare: Principal = { name: 'robot$grouped+ci', source: 'token', groups: [], admin: false };
    assert.deepEqual(await actionsOn(authorizer, bare, 'grouped/app'), []);
  });
});

describe('anonymous callers and public projects', () => {
  test('anonymous may pull from a public project only', async () => {
    assert.deepEqual(await actionsOn(authorizer, anonymous, 'open/app'), ['pull']);
    assert.deepEqual(await actionsOn(authorizer, anonymous, 'team/app'), []);
  });

  test('anonymous gets nothing on a project that does not exist', async () => {
    assert.deepEqual(await actionsOn(authorizer, anonymous, 'missing/app'), []);
  });

  test('any user may pull from a public project; members keep their role there', async () => {
    assert.deepEqual(await actionsOn(authorizer, user('stranger'), 'open/app'), ['pull']);
    assert.deepEqual(await actionsOn(authorizer, user('developer-user'), 'open/app'), ['pull', 'push']);
  });
});

describe('administrators', () => {
  test('may do everything on an existing project', async () => {
    assert.deepEqual(await actionsOn(authorizer, admin(), 'team/app'), ['delete', 'pull', 'push']);
    assert.deepEqual(await authorizer.grant(admin(), [repo('team/app', ['*'])]), [repo('team/app', ['*'])]);
  });

  test('may not push into a project that does not exist', async () => {
    assert.deepEqual(await actionsOn(authorizer, admin(), 'missing/app'), ['delete', 'pull']);
  });

  test('get other resource types too; others do not', async () => {
    const other = { type: 'registry', name: 'gc', actions: ['run'] };
    assert.deepEqual(await authorizer.grant(admin(), [other]), [other]);
    assert.deepEqual(await authorizer.grant(user('projectadmin-user'), [other]), []);
  });
});

describe('projects that do not exist', () => {
  test('nobody but an administrator gets anything there', async () => {
    for (const principal of [user('projectadmin-user'), user('dave', ['devs']), anonymous]) {
      assert.deepEqual(await actionsOn(authorizer, principal, 'nothere/app'), []);
    }
  });

  test('a push is refused before authorization with 404 NAME_UNKNOWN naming the project', async () => {
    await assert.rejects(authorizer.preparePush(user('developer-user'), 'nothere/app'), (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.equal(error.code, 'NAME_UNKNOWN');
      assert.equal(error.status, 404);
      assert.equal(error.message, 'project nothere does not exist');
      return true;
    });
    await assert.rejects(authorizer.preparePush(user('x'), 'solo'), /project solo does not exist/);
    assert.equal(await authorizer.projectExists('nothere'), false);
  });

  test('an existing project and an anonymous caller pass the push preparation untouched', async () => {
    await authorizer.preparePush(user('developer-user'), 'team/app');
    await authorizer.preparePush(anonymous, 'nothere/app');
    assert.equal(await authorizer.projectExists('nothere'), false);
  });

  test('with auto-creation, a user push creates a private project owned by the user', async () => {
    const creating = new ProjectAuthorizer(store, { autoCreate: true, creators: 'users' });
    await creating.preparePush(user('frank'), 'fresh/app');
    const created = await store.findProject('fresh');
    assert.ok(created);
    assert.equal(created.public, false);
    assert.equal(created.createdBy, 'frank');
    assert.deepEqual(await actionsOn(creating, user('frank'), 'fresh/app'), ['delete', 'pull', 'push']);
    assert.deepEqual(await actionsOn(creating, user('stranger'), 'fresh/app'), []);
    // Again, concurrently: the project exists once and nothing fails.
    await Promise.all([creating.preparePush(user('frank'), 'fresh/b'), creating.ensureProject('fresh', 'frank')]);
    assert.equal((await store.listMembers(created.id)).length, 1);
  });

  test('auto-creation is not for robots, nor for users when only administrators create projects', async () => {
    const creating = new ProjectAuthorizer(store, { autoCreate: true, creators: 'users' });
    const ci = robot('robot$x+ci', [{ project: '*', actions: ['push'] }]);
    await assert.rejects(creating.preparePush(ci, 'robotmade/app'), /project robotmade does not exist/);
    const adminsOnly = new ProjectAuthorizer(store, { autoCreate: true, creators: 'admins' });
    await assert.rejects(adminsOnly.preparePush(user('frank'), 'usermade/app'), /project usermade does not exist/);
    await adminsOnly.preparePush(admin('root'), 'adminmade/app');
    assert.equal(await adminsOnly.projectExists('adminmade'), true);
  });
});

describe('callers with a verified token', () => {
  function bearer(name: string, grants: ResourceAccess[]): Principal {
    return { name, source: 'token', groups: [], admin: false, grants };
  }

  test('get exactly what the token grants, whatever their memberships', async () => {
    const limited = bearer('projectadmin-user', [repo('team/app', ['pull'])]);
    assert.deepEqual(await actionsOn(authorizer, limited, 'team/app'), ['pull']);
    assert.deepEqual(await actionsOn(authorizer, limited, 'team/other'), []);
    // A robot's token carries the robot's grants, not its permissions: the grants decide.
    const robotToken = bearer('robot$team+ci', [repo('team/app', ['pull', 'push'])]);
    assert.deepEqual(await actionsOn(authorizer, robotToken, 'team/app'), ['pull', 'push']);
    const catalog = { type: 'registry', name: 'catalog', actions: ['*'] };
    assert.deepEqual(await authorizer.grant(bearer('stranger', [catalog]), [catalog]), [catalog]);
    assert.deepEqual(await authorizer.grant(bearer('stranger', []), [catalog]), []);
  });

  test("see in the catalog their subject's projects and the repositories the token may pull", async () => {
    const token = bearer('stranger', [repo('team/a', ['pull']), repo('team/b', ['push'])]);
    assert.deepEqual(await authorizer.pullableRepositories(token, ['grouped/a', 'open/b', 'team/a', 'team/b']), [
      'open/b',
      'team/a',
    ]);
  });
});

describe('the catalog', () => {
  const catalog = { type: 'registry', name: 'catalog', actions: ['*'] };

  test('is granted to any authenticated caller, robots included, and not to anonymous', async () => {
    assert.deepEqual(await authorizer.grant(user('stranger'), [catalog]), [catalog]);
    assert.deepEqual(await authorizer.grant(robot('robot$team+ci', []), [catalog]), [catalog]);
    assert.deepEqual(await authorizer.grant(anonymous, [catalog]), []);
  });

  const repositories = ['grouped/a', 'missing/x', 'open/b', 'open/c/d', 'team/a', 'team/b'];

  test('lists, for each caller, what it may pull', async () => {
    assert.equal(await authorizer.pullableRepositories(admin(), repositories), undefined);
    assert.deepEqual(await authorizer.pullableRepositories(anonymous, repositories), ['open/b', 'open/c/d']);
    assert.deepEqual(await authorizer.pullableRepositories(user('stranger'), repositories), ['open/b', 'open/c/d']);
    assert.deepEqual(await authorizer.pullableRepositories(user('limitedguest-user'), repositories), [
      'open/b',
      'open/c/d',
      'team/a',
      'team/b',
    ]);
    assert.deepEqual(await authorizer.pullableRepositories(user('dave', ['devs']), repositories), [
      'grouped/a',
      'open/b',
      'open/c/d',
    ]);
    const ci = robot('robot$team+ci', [{ project: 'team', actions: ['pull'] }]);
    assert.deepEqual(await authorizer.pullableRepositories(ci, repositories), [
      'open/b',
      'open/c/d',
      'team/a',
      'team/b',
    ]);
    const pusher = robot('robot$team+push', [{ project: 'team', actions: ['push'] }]);
    assert.deepEqual(await authorizer.pullableRepositories(pusher, repositories), ['open/b', 'open/c/d']);
  });

  test('asks the database once, however many repositories and projects', async () => {
    const many = Array.from({ length: 400 }, (_, index) => `p${index % 200}/repo${index}`).concat(repositories);
    queries = 0;
    const visible = await authorizer.pullableRepositories(user('guest-user'), many);
    assert.equal(queries, 1);
    assert.deepEqual(visible, ['open/b', 'open/c/d', 'team/a', 'team/b']);
  });

  test('grant asks the database once for a request naming several projects', async () => {
    queries = 0;
    await authorizer.grant(user('guest-user'), [
      repo('team/a', ['pull']),
      repo('open/b', ['pull']),
      repo('x/y', ['pull']),
    ]);
    assert.equal(queries, 1);
  });
});
