import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { openSqlite } from '../../src/metadata/open-sqlite.ts';
import { ProjectStore } from '../../src/metadata/project-store.ts';
import type { Database } from '../../src/metadata/schema.ts';

let dir: string;
let db: Kysely<Database>;
let store: ProjectStore;

/** A repository row, with one manifest unless `empty` (a repository holding only blobs). */
async function repository(name: string, empty = false): Promise<void> {
  const { id } = await db
    .insertInto('repositories')
    .values({ name, created_at: Date.now() })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (empty) return;
  await db
    .insertInto('manifests')
    .values({
      repository_id: id,
      digest: `sha256:${'a'.repeat(64)}`,
      media_type: 'application/vnd.oci.image.manifest.v1+json',
      artifact_type: null,
      size: 2,
      payload: Buffer.from('{}'),
      subject_digest: null,
      annotations: null,
      created_at: Date.now(),
    })
    .execute();
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-rbac-store-'));
  db = await openSqlite(join(dir, 'metadata.db'));
  store = new ProjectStore(db);
});

after(async () => {
  await db.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('project store', () => {
  test('a name is taken once; members are unique per kind and name', async () => {
    const created = await store.createProject({ name: 'a_b', public: false, createdBy: 'ann' }, [
      { kind: 'user', name: 'ann', role: 'projectAdmin' },
    ]);
    assert.ok(created);
    assert.equal(await store.createProject({ name: 'a_b', public: true, createdBy: 'bob' }), undefined);
    assert.equal((await store.findProject('a_b'))?.public, false);
    assert.equal(await store.addMember(created.id, { kind: 'user', name: 'ann', role: 'guest' }), undefined);
    const group = await store.addMember(created.id, { kind: 'group', name: 'ann', role: 'guest' });
    assert.equal(group?.kind, 'group');
  });

  test('repositories are counted by exact prefix, with "_" matched literally, and only with manifests', async () => {
    await repository('a_b');
    await repository('a_b/app');
    await repository('a_b/deep/er');
    await repository('a_b/blobs-only', true);
    await repository('axb/app');
    await repository('a_bc/app');
    await repository('a_b.c');
    assert.equal(await store.countRepositories('a_b'), 3);
    assert.equal(await store.countRepositories('axb'), 1);
    assert.equal(await store.countRepositories('nothing'), 0);
  });

  test('deleting a project deletes its members', async () => {
    const project = await store.createProject({ name: 'gone', public: false, createdBy: 'ann' }, [
      { kind: 'user', name: 'ann', role: 'projectAdmin' },
    ]);
    assert.ok(project);
    assert.equal(await store.deleteProject('gone'), true);
    assert.equal(await store.deleteProject('gone'), false);
    assert.deepEqual(await store.listMembers(project.id), []);
  });

  test('listings show public projects, the identity’s own and the named ones, by name, in pages', async () => {
    for (const name of ['p1', 'p2', 'p3', 'p4', 'p5']) {
      await store.createProject({ name, public: name === 'p2' || name === 'p4', createdBy: 'ann' });
    }
    const p5 = await store.findProject('p5');
    await store.addMember(p5!.id, { kind: 'group', name: 'devs', role: 'developer' });
    const visibility = { all: false as const, identity: { user: 'zed', groups: ['devs'] }, alsoNamed: ['p1'] };
    const first = await store.listProjects(visibility, { offset: 0, limit: 2 });
    assert.equal(first.total, 4);
    assert.deepEqual(
      first.projects.map((project) => project.name),
      ['p1', 'p2'],
    );
    const second = await store.listProjects(visibility, { offset: 2, limit: 2 });
    assert.deepEqual(
      second.projects.map((project) => project.name),
      ['p4', 'p5'],
    );
    const anonymous = await store.listProjects(
      { all: false, identity: { user: undefined, groups: [] }, alsoNamed: [] },
      { offset: 0, limit: 100 },
    );
    assert.deepEqual(
      anonymous.projects.map((project) => project.name),
      ['p2', 'p4'],
    );
    const all = await store.listProjects({ all: true }, { offset: 0, limit: 100 });
    assert.equal(all.total, all.projects.length);
    assert.ok(all.projects.some((project) => project.name === 'a_b'));
  });

  test('standings cover more names than one statement binds', async () => {
    const names = Array.from({ length: 1200 }, (_, index) => `bulk${index}`);
    await store.createProject({ name: 'bulk1100', public: true, createdBy: 'ann' });
    const standings = await store.standings([...names, 'p5'], { user: undefined, groups: ['devs'] });
    assert.deepEqual([...standings.keys()].sort(), ['bulk1100', 'p5']);
    assert.deepEqual(standings.get('p5'), { public: false, roles: ['developer'] });
    assert.deepEqual(standings.get('bulk1100'), { public: true, roles: [] });
  });
});
