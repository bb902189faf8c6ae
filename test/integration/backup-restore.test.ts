import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runBackup } from '../../src/backup/run-backup.ts';
import { openStorage } from '../../src/composition/storage.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { api, assertSameImage, type Credentials, createProject, createUser, credsFlag } from '../helpers/auth.ts';
import { type BuiltImage, buildImageLayout } from '../helpers/images.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { buildImage, pushImage, randomBlob } from '../helpers/push.ts';
import { seededRandomBytes } from '../helpers/random-bytes.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';
import { runWharf } from '../helpers/wharf-cli.ts';

/**
 * `wharf backup` of a running registry in projects mode while pushes go on, `wharf backup verify`,
 * and `wharf restore` into a fresh data directory that a new server then serves: every image
 * acknowledged before the backup started pulls byte for byte with skopeo, users and projects are
 * there. Then: incremental runs, an interrupted run resumed, a corrupted blob, a non-empty target.
 */
const admin: Credentials = { username: 'admin', password: 'backup-admin-password' };
const developer: Credentials = { username: 'dev', password: 'backup-dev-password' };
const cliEntry = resolve(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

interface Site {
  dataDir: string;
  configFile: string;
  configYaml: string;
}

/** A data directory and a config file naming it: blobs there, SQLite there unless `databaseUrl`. */
async function site(
  work: string,
  name: string,
  options: { projects?: boolean; databaseUrl?: string } = {},
): Promise<Site> {
  const dataDir = join(work, name);
  await mkdir(dataDir, { recursive: true });
  const configFile = join(work, `${name}.yml`);
  const database =
    options.databaseUrl === undefined ? `path: ${join(dataDir, 'wharf.db')}` : `url: ${options.databaseUrl}`;
  const auth = options.projects === false ? '' : 'auth:\n  projects:\n    enabled: true\n';
  const configYaml = `storage:\n  filesystem:\n    rootdirectory: ${dataDir}\ndatabase:\n  ${database}\n${auth}`;
  await writeFile(configFile, configYaml);
  return { dataDir, configFile, configYaml };
}

function serve(target: Site): Promise<WharfProcess> {
  return startWharf({
    env: { WHARF_ADMIN_PASSWORD: admin.password },
    configYaml: target.configYaml,
    dataDir: target.dataDir,
  });
}

async function push(host: string, layout: string, tag: string): Promise<void> {
  await skopeo([
    'copy',
    `--dest-creds=${credsFlag(admin)}`,
    `oci:${layout}:${tag}`,
    `docker://${host}/team/app:${tag}`,
  ]);
}

async function pulledSame(host: string, work: string, image: BuiltImage): Promise<void> {
  const tag = image.tag ?? '';
  const pulled = join(work, `pulled-${tag}-${Date.now()}`);
  await skopeo(['copy', `--src-creds=${credsFlag(admin)}`, `docker://${host}/team/app:${tag}`, `oci:${pulled}:${tag}`]);
  await assertSameImage(pulled, tag, image);
  await rm(pulled, { recursive: true, force: true });
}

async function backupManifest(dir: string): Promise<{ counts: Record<string, number>; bytes: Record<string, number> }> {
  return JSON.parse(await readFile(join(dir, 'backup.json'), 'utf8'));
}

async function blobFiles(dir: string): Promise<string[]> {
  return readdir(join(dir, 'blobs', 'sha256')).catch(() => []);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('wharf backup and restore', () => {
  let work: string;
  let layout: string;
  let source: Site;
  let server: WharfProcess;
  const before_: BuiltImage[] = [];
  const during: BuiltImage[] = [];
  let backupDir: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-backup-'));
    layout = join(work, 'layout');
    source = await site(work, 'source');
    for (let index = 0; index < 4; index++) {
      before_.push(
        await buildImageLayout(layout, {
          tag: `v${index}`,
          layers: [
            { files: { 'base/os': 'shared base layer\n' } },
            { files: { [`app/${index}`]: seededRandomBytes(`before-${index}`, 256 * 1024).toString('base64') } },
          ],
        }),
      );
    }
    for (let index = 0; index < 16; index++) {
      during.push(
        await buildImageLayout(layout, {
          tag: `during${index}`,
          layers: [
            { files: { [`app/during-${index}`]: seededRandomBytes(`during-${index}`, 128 * 1024).toString('base64') } },
          ],
        }),
      );
    }
    server = await serve(source);
    await createProject(server.url, admin, 'team');
    await createUser(server.url, admin, developer);
    for (const image of before_) await push(server.host, layout, image.tag ?? '');
    backupDir = join(work, 'backup');
  });

  after(async () => {
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('backs up while pushes go on, and a restored registry serves every image acknowledged before it', async () => {
    let backupEnded: number | undefined;
    const pushedAt: number[] = [];
    const backupStarted = Date.now();
    // Pushes go on until the backup ends: the first ones land before the snapshot, later ones after.
    const pushes = (async () => {
      for (const image of during) {
        if (backupEnded !== undefined) return;
        await push(server.host, layout, image.tag ?? '');
        pushedAt.push(Date.now());
      }
    })();
    const backup = await runWharf(['backup', '--to', backupDir, '--config', source.configFile]);
    backupEnded = Date.now();
    await pushes;
    assert.ok(
      pushedAt.some((at) => at > backupStarted && at < (backupEnded ?? 0)),
      'pushes were acknowledged while the backup ran',
    );
    assert.equal(backup.code, 0, `${backup.stdout}\n${backup.stderr}`);
    assert.match(backup.stdout, /backup written to/);
    const manifest = await backupManifest(backupDir);
    assert.ok(manifest.counts.users !== undefined && manifest.counts.users >= 2, 'admin and dev are in the snapshot');
    assert.equal(manifest.counts.projects, 1);
    assert.equal(manifest.counts.blobsCopied, manifest.counts.blobs, 'a first run copies every blob');

    const verified = await runWharf(['backup', 'verify', backupDir]);
    assert.equal(verified.code, 0, `${verified.stdout}\n${verified.stderr}`);
    assert.match(verified.stdout, /is intact/);

    const target = await site(work, 'restored');
    const restored = await runWharf(['restore', '--from', backupDir, '--config', target.configFile]);
    assert.equal(restored.code, 0, `${restored.stdout}\n${restored.stderr}`);
    assert.match(restored.stdout, /every referenced blob is in storage/);

    const second = await serve(target);
    try {
      for (const image of before_) await pulledSame(second.host, work, image);
      // An image pushed during the backup is in it whole or not at all, and since they were pushed
      // one after another, those in it are the first ones.
      const present: boolean[] = [];
      for (const image of during) {
        const inspected = await skopeo([
          'inspect',
          '--raw',
          `--creds=${credsFlag(admin)}`,
          `docker://${second.host}/team/app:${image.tag}`,
        ]).then(
          () => true,
          (error: Error) => {
            assert.match(error.message, /manifest unknown/i);
            return false;
          },
        );
        if (inspected) await pulledSame(second.host, work, image);
        present.push(inspected);
      }
      const inBackup = present.filter(Boolean).length;
      assert.deepEqual(
        present,
        during.map((_, index) => index < inBackup),
        'the pushes in the backup are a prefix',
      );
      assert.ok(inBackup >= pushedAt.filter((at) => at < backupStarted).length);
      const users = await api(second.url, 'GET', '/users/current', { as: developer });
      assert.equal(users.status, 200, `the user and password survive: ${users.text()}`);
      const project = await api(second.url, 'GET', '/projects/team', { as: admin });
      assert.equal(project.status, 200, project.text());
    } finally {
      await second.close();
    }
  });

  it('copies only the blobs a later run finds new, and --dry-run writes nothing', async () => {
    const extra = await buildImageLayout(layout, {
      tag: 'later',
      layers: [{ files: { 'app/later': seededRandomBytes('later', 64 * 1024).toString('base64') } }],
    });
    await push(server.host, layout, 'later');
    const filesBefore = new Set(await blobFiles(backupDir));

    const dryDir = join(work, 'dry');
    const dry = await runWharf(['backup', '--dry-run', '--to', dryDir, '--config', source.configFile]);
    assert.equal(dry.code, 0, `${dry.stdout}\n${dry.stderr}`);
    assert.match(dry.stdout, /would copy \d+ of \d+ blobs/);
    assert.equal(await exists(join(dryDir, 'backup.json')), false);
    assert.deepEqual(await blobFiles(dryDir), []);

    const again = await runWharf(['backup', '--to', backupDir, '--config', source.configFile]);
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    const manifest = await backupManifest(backupDir);
    const filesAfter = await blobFiles(backupDir);
    const added = filesAfter.filter((file) => !filesBefore.has(file));
    assert.equal(manifest.counts.blobsCopied, added.length, 'the run copied exactly the files that were not there');
    assert.equal(manifest.counts.blobsAlreadyPresent, filesBefore.size);
    for (const digest of [extra.config.digest, ...extra.layers.map((layer) => layer.digest)]) {
      assert.ok(added.includes(digest.slice('sha256:'.length)), `${digest} of the new image was copied`);
    }
    assert.ok(manifest.counts.blobsCopied < (manifest.counts.blobs ?? 0), 'blobs already backed up were not copied');
    assert.match(again.stdout, new RegExp(`${manifest.counts.blobsCopied} copied`));
  });

  it('detects a corrupted blob in verify, and restore refuses it and leaves the target empty', async () => {
    const damaged = join(work, 'damaged');
    await cp(backupDir, damaged, { recursive: true });
    const layer = before_[0]?.layers[1]?.digest ?? '';
    const file = join(damaged, 'blobs', 'sha256', layer.slice('sha256:'.length));
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    await writeFile(file, bytes);

    const verified = await runWharf(['backup', 'verify', damaged]);
    assert.equal(verified.code, 1, `${verified.stdout}\n${verified.stderr}`);
    assert.match(verified.stdout, new RegExp(`${layer}: corrupted`));

    const target = await site(work, 'from-damaged');
    const refused = await runWharf(['restore', '--from', damaged, '--config', target.configFile]);
    assert.equal(refused.code, 1, `${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr, new RegExp(layer));

    // Nothing stayed behind: the good backup restores into the same target.
    const good = await runWharf(['restore', '--from', backupDir, '--config', target.configFile]);
    assert.equal(good.code, 0, `${good.stdout}\n${good.stderr}`);
  });

  it('restores the SQLite backup into PostgreSQL, and backs that registry up from PostgreSQL', async () => {
    const postgres = await startPostgres();
    try {
      const url = await postgres.createDatabase({ name: 'restored' });
      const target = await site(work, 'on-postgres', { databaseUrl: url });
      const restored = await runWharf(['restore', '--from', backupDir, '--config', target.configFile]);
      assert.equal(restored.code, 0, `${restored.stdout}\n${restored.stderr}`);
      const sqliteCounts = (await backupManifest(backupDir)).counts;

      const onPostgres = await serve(target);
      try {
        for (const image of before_) await pulledSame(onPostgres.host, work, image);
        const current = await api(onPostgres.url, 'GET', '/users/current', { as: developer });
        assert.equal(current.status, 200, current.text());

        const fromPostgres = join(work, 'from-postgres');
        const backup = await runWharf(['backup', '--to', fromPostgres, '--config', target.configFile]);
        assert.equal(backup.code, 0, `${backup.stdout}\n${backup.stderr}`);
        const manifest = JSON.parse(await readFile(join(fromPostgres, 'backup.json'), 'utf8'));
        assert.equal(manifest.source.database, 'postgres');
        for (const key of ['repositories', 'manifests', 'tags', 'users', 'projects', 'blobs']) {
          assert.equal(manifest.counts[key], sqliteCounts[key], `${key} in the backup taken from PostgreSQL`);
        }
        const verified = await runWharf(['backup', 'verify', fromPostgres]);
        assert.equal(verified.code, 0, `${verified.stdout}\n${verified.stderr}`);
      } finally {
        await onPostgres.stop();
      }
    } finally {
      await postgres.stop();
    }
  });

  it('refuses a target that is not empty, naming what is in it', async () => {
    const refused = await runWharf(['restore', '--from', backupDir, '--config', source.configFile]);
    assert.equal(refused.code, 1, `${refused.stdout}\n${refused.stderr}`);
    assert.match(
      refused.stderr,
      /the restore target is not empty: the storage \(filesystem\) already holds blobs, e\.g\. sha256:[0-9a-f]{64}; the database already has rows \(table \w+\)/,
    );
  });

  it('resumes a backup killed while it copies blobs', async () => {
    const plain = await site(work, 'plain', { projects: false });
    const registry = await startWharf({ configYaml: plain.configYaml, dataDir: plain.dataDir });
    try {
      for (let index = 0; index < 8; index++) {
        const image = buildImage([randomBlob(8 * 1024 * 1024)], `big-${index}`);
        const response = await pushImage(registry.url, 'big', `v${index}`, image);
        assert.equal(response.status, 201);
      }
      const dir = join(work, 'interrupted');
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', cliEntry, 'backup', '--to', dir, '--config', plain.configFile],
        {
          stdio: 'ignore',
        },
      );
      await killOnceABlobIsCopied(child, dir);
      assert.equal(await exists(join(dir, 'backup.json')), false, 'the run was killed before it finished');
      const copiedBefore = (await blobFiles(dir)).filter((file) => !file.endsWith('.partial')).length;
      assert.ok(copiedBefore >= 1);

      const unfinished = await runWharf(['backup', 'verify', dir]);
      assert.equal(unfinished.code, 1);
      assert.match(unfinished.stderr, /holds no finished backup/);
      const target = await site(work, 'from-unfinished', { projects: false });
      const refused = await runWharf(['restore', '--from', dir, '--config', target.configFile]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /holds no finished backup/);

      const resumed = await runWharf(['backup', '--to', dir, '--config', plain.configFile]);
      assert.equal(resumed.code, 0, `${resumed.stdout}\n${resumed.stderr}`);
      const manifest = await backupManifest(dir);
      assert.equal(manifest.counts.blobs, 16);
      assert.equal(manifest.counts.blobsAlreadyPresent, copiedBefore, 'what the killed run finished is kept');
      assert.equal(manifest.counts.blobsCopied, 16 - copiedBefore);
      assert.deepEqual(
        (await blobFiles(dir)).filter((file) => file.endsWith('.partial')),
        [],
        'no partial file is left',
      );
      const verified = await runWharf(['backup', 'verify', dir]);
      assert.equal(verified.code, 0, `${verified.stdout}\n${verified.stderr}`);
    } finally {
      await registry.close();
    }
  });
});

/** Polls the backup directory and kills the run with SIGKILL as soon as one blob file is complete. */
async function killOnceABlobIsCopied(child: ChildProcess, dir: string): Promise<void> {
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const files = await blobFiles(dir);
    if (files.some((file) => !file.endsWith('.partial'))) break;
    if (child.exitCode !== null) break;
    assert.ok(Date.now() < deadline, 'no blob was copied within 60 s');
    await sleep(5);
  }
  child.kill('SIGKILL');
  await exited;
}

/**
 * Garbage collection between the snapshot and the copy: a manifest the snapshot lists is deleted
 * and `wharf gc` removes its layer right after the snapshot was taken. The run finds a referenced
 * blob gone, takes a new snapshot (which no longer lists the manifest) and finishes consistent.
 */
describe('wharf backup racing garbage collection', () => {
  it('takes a new snapshot when a blob the first one references was collected meanwhile', async () => {
    const work = await mkdtemp(join(tmpdir(), 'wharf-backup-gc-'));
    const plain = await site(work, 'plain', { projects: false });
    const registry = await startWharf({ configYaml: plain.configYaml, dataDir: plain.dataDir });
    try {
      const kept = buildImage([randomBlob(64 * 1024)], 'kept');
      const doomed = buildImage([randomBlob(64 * 1024)], 'doomed');
      assert.equal((await pushImage(registry.url, 'app', 'kept', kept)).status, 201);
      assert.equal((await pushImage(registry.url, 'app', 'doomed', doomed)).status, 201);

      const { config } = await loadConfig({ file: plain.configFile, env: {} });
      const storage = await openStorage(config, createLogger({ ...config.log, level: 'warn' }, process.stderr));
      const dir = join(work, 'backup');
      const snapshots: number[] = [];
      const report = await runBackup(config, storage, {
        dir,
        dryRun: false,
        progress: {
          async start(blobs) {
            snapshots.push(blobs);
            if (snapshots.length > 1) return;
            const deleted = await fetch(`${registry.url}/v2/app/manifests/${doomed.manifest.digest}`, {
              method: 'DELETE',
            });
            assert.equal(deleted.status, 202);
            const collected = await runWharf(['gc', '--config', plain.configFile, '--upload-grace', '0s']);
            assert.equal(collected.code, 0, `${collected.stdout}\n${collected.stderr}`);
          },
          advance() {},
          stop() {},
        },
      });
      assert.equal(report.dryRun, false);
      if (report.dryRun) return;
      assert.equal(report.snapshots, 2, 'the first snapshot was overtaken by the collection');
      assert.deepEqual(snapshots, [4, 2], 'the second snapshot describes the kept image only');
      assert.equal(report.manifest.counts.manifests, 1);
      assert.equal(await exists(join(dir, 'blobs', 'sha256', doomed.layers[0]?.digest.slice(7) ?? '')), false);
      const verified = await runWharf(['backup', 'verify', dir]);
      assert.equal(verified.code, 0, `${verified.stdout}\n${verified.stderr}`);
    } finally {
      await registry.close();
      await rm(work, { recursive: true, force: true });
    }
  });
});
