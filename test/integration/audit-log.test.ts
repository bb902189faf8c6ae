import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basic } from '../helpers/auth.ts';
import { type HttpResult, nextLink, send } from '../helpers/http.ts';
import { startWharf, testDatabaseEnv, type WharfProcess } from '../helpers/wharf.ts';
import { runWharf } from '../helpers/wharf-cli.ts';

/**
 * The audit log of a real server in projects mode, driven over HTTP as clients drive it: a scripted
 * scenario (failed and successful logins, a project, members, a robot, a push, a pull, denied and
 * allowed deletes) and the entries it must leave, read back through the API with its filters and
 * pages, exported with `wharf audit export`, and the metrics the same requests must move.
 */
const userAgent = 'audit-scenario/1.0';
const admin = basic('admin', 'admin-password-1');
const alice = basic('alice', 'alice-password-1');
const carol = basic('carol', 'carol-password-1');
const ociManifest = 'application/vnd.oci.image.manifest.v1+json';

interface Entry {
  id: number;
  time: string;
  actor: string;
  actor_kind: string;
  source_address: string | null;
  user_agent: string | null;
  request_id: string | null;
  action: string;
  resource_type: string;
  resource: string;
  project: string | null;
  repository: string | null;
  outcome: string;
  status: number | null;
  method: string | null;
  route: string | null;
  detail: Record<string, unknown> | null;
}

function call(wharf: WharfProcess, path: string, init: RequestInit & { auth?: string } = {}): Promise<HttpResult> {
  const headers = new Headers(init.headers);
  headers.set('user-agent', userAgent);
  if (init.auth !== undefined) headers.set('authorization', init.auth);
  return send(`${wharf.url}${path}`, { ...init, headers });
}

async function json(wharf: WharfProcess, path: string, auth: string, body: unknown): Promise<HttpResult> {
  return call(wharf, path, {
    method: 'POST',
    auth,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** POST, PATCH, PUT with the upload's signed state: the way docker pushes a layer. */
async function pushBlobChunked(wharf: WharfProcess, repository: string, bytes: Buffer, auth: string): Promise<void> {
  const started = await call(wharf, `/v2/${repository}/blobs/uploads/`, { method: 'POST', auth });
  assert.equal(started.status, 202, started.text());
  const patched = await send(new URL(started.headers.get('location') ?? '', wharf.url), {
    method: 'PATCH',
    headers: { authorization: auth, 'user-agent': userAgent, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  assert.equal(patched.status, 202, patched.text());
  const location = new URL(patched.headers.get('location') ?? '', wharf.url);
  location.searchParams.set('digest', sha256(bytes));
  const done = await send(location, { method: 'PUT', headers: { authorization: auth, 'user-agent': userAgent } });
  assert.equal(done.status, 201, done.text());
}

/** One POST with ?digest=: a monolithic push. */
async function pushBlobMonolithic(wharf: WharfProcess, repository: string, bytes: Buffer, auth: string): Promise<void> {
  const result = await call(wharf, `/v2/${repository}/blobs/uploads/?digest=${sha256(bytes)}`, {
    method: 'POST',
    auth,
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  assert.equal(result.status, 201, result.text());
}

async function auditPage(
  wharf: WharfProcess,
  query: string,
  auth = admin,
): Promise<{ result: HttpResult; entries: Entry[] }> {
  const result = await call(wharf, `/api/v1/audit-logs${query}`, { auth });
  assert.equal(result.status, 200, result.text());
  return { result, entries: result.json<Entry[]>() };
}

/** Every entry matching `query`, oldest first, following the Link headers. */
async function allEntries(
  wharf: WharfProcess,
  query = '',
  auth = admin,
  path = '/api/v1/audit-logs',
): Promise<Entry[]> {
  const entries: Entry[] = [];
  let url: URL | undefined = new URL(`${path}${query === '' ? '?' : `${query}&`}page_size=100`, wharf.url);
  while (url) {
    const result = await send(url, { headers: { authorization: auth, 'user-agent': userAgent } });
    assert.equal(result.status, 200, result.text());
    entries.push(...result.json<Entry[]>());
    url = nextLink(wharf.url, result);
  }
  return entries.reverse();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function metricValue(exposition: string, series: string): number | undefined {
  const line = exposition.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('audit log of a scripted scenario', () => {
  let wharf: WharfProcess;
  const configBytes = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }),
  );
  const layerBytes = randomBytes(40_000);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifest,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(configBytes),
        size: configBytes.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: sha256(layerBytes),
          size: layerBytes.length,
        },
      ],
    }),
  );
  const manifestDigest = sha256(manifest);
  let afterSetup = '';
  let repositoryDeleteStatus = 0;
  let entries: Entry[] = [];

  before(async () => {
    wharf = await startWharf({
      configYaml:
        'auth:\n  projects:\n    enabled: true\n  admin:\n    password: admin-password-1\n  lockout:\n    attempts: 2\n',
    });

    // A wrong password, then everything an administrator sets up.
    assert.equal((await call(wharf, '/v2/', { auth: basic('alice', 'wrong-password') })).status, 401);
    for (const username of ['alice', 'carol']) {
      const created = await json(wharf, '/api/v1/users', admin, { username, password: `${username}-password-1` });
      assert.equal(created.status, 201, created.text());
    }
    assert.equal((await json(wharf, '/api/v1/projects', admin, { name: 'team' })).status, 201);
    for (const [member, role] of [
      ['alice', 'developer'],
      ['carol', 'projectAdmin'],
    ]) {
      const added = await json(wharf, '/api/v1/projects/team/members', admin, {
        member_kind: 'user',
        member_name: member,
        role,
      });
      assert.equal(added.status, 201, added.text());
    }
    const robot = await json(wharf, '/api/v1/projects/team/robots', admin, { name: 'ci', actions: ['pull', 'push'] });
    assert.equal(robot.status, 201, robot.text());
    // Entries carry the time their request arrived, to the millisecond: keep the cut between two.
    await sleep(20);
    afterSetup = new Date().toISOString();
    await sleep(20);

    // alice gets a token, pushes and pulls, and may not delete; the administrator deletes.
    const token = await call(wharf, '/service/token?service=wharf&scope=repository:team/app:pull', { auth: alice });
    assert.equal(token.status, 200, token.text());
    await pushBlobChunked(wharf, 'team/app', layerBytes, alice);
    await pushBlobMonolithic(wharf, 'team/app', configBytes, alice);
    const pushed = await call(wharf, '/v2/team/app/manifests/1.0', {
      method: 'PUT',
      auth: alice,
      headers: { 'content-type': ociManifest },
      body: manifest,
    });
    assert.equal(pushed.status, 201, pushed.text());
    const pulled = await call(wharf, '/v2/team/app/manifests/1.0', { auth: alice, headers: { accept: ociManifest } });
    assert.equal(pulled.status, 200);
    assert.deepEqual(pulled.body, manifest);
    // A pull's entry is written later than the entries after it: a different millisecond orders it.
    await sleep(5);
    assert.equal((await call(wharf, '/v2/team/app/manifests/1.0', { method: 'DELETE', auth: alice })).status, 403);
    assert.equal((await call(wharf, '/v2/team/app/manifests/1.0', { method: 'DELETE', auth: admin })).status, 202);
    assert.equal(
      (await call(wharf, `/v2/team/app/manifests/${manifestDigest}`, { method: 'DELETE', auth: admin })).status,
      202,
    );
    repositoryDeleteStatus = (
      await call(wharf, '/api/v1/projects/team/repositories/app', { method: 'DELETE', auth: admin })
    ).status;
    entries = await allEntries(wharf);
  });

  after(async () => {
    await wharf?.close();
  });

  it('records each change, push, pull and delete with actor, outcome, source and client', () => {
    const changes = entries
      .filter((entry) => entry.action !== 'login')
      .map((entry) => [entry.action, entry.actor, entry.actor_kind, entry.outcome, entry.status, entry.resource]);
    const members = entries.filter((entry) => entry.action === 'member.create').map((entry) => entry.resource);
    assert.deepEqual(changes, [
      ['user.create', 'admin', 'local', 'success', 201, 'users/alice'],
      ['user.create', 'admin', 'local', 'success', 201, 'users/carol'],
      ['project.create', 'admin', 'local', 'success', 201, 'projects/team'],
      ['member.create', 'admin', 'local', 'success', 201, members[0]],
      ['member.create', 'admin', 'local', 'success', 201, members[1]],
      ['robot.create', 'admin', 'local', 'success', 201, 'projects/team/robots/ci'],
      ['manifest.push', 'alice', 'local', 'success', 201, 'team/app:1.0'],
      ['manifest.pull', 'alice', 'local', 'success', 200, 'team/app:1.0'],
      ['tag.delete', 'alice', 'local', 'failure', 403, 'team/app:1.0'],
      ['tag.delete', 'admin', 'local', 'success', 202, 'team/app:1.0'],
      ['manifest.delete', 'admin', 'local', 'success', 202, `team/app@${manifestDigest}`],
      [
        'repository.delete',
        'admin',
        'local',
        repositoryDeleteStatus < 400 ? 'success' : 'failure',
        repositoryDeleteStatus,
        'team/app',
      ],
    ]);
    assert.match(members[0] ?? '', /^projects\/team\/members\/\d+$/);
    for (const entry of entries) {
      assert.equal(entry.source_address, '127.0.0.1', `${entry.action} source`);
      assert.equal(entry.user_agent, userAgent, `${entry.action} client`);
      assert.ok(entry.request_id, `${entry.action} request id`);
      assert.ok(Date.parse(entry.time) > Date.now() - 120_000, `${entry.action} time`);
    }
  });

  it('names the project, the repository and the facts of each action, never a secret', () => {
    const byAction = (action: string) => entries.filter((entry) => entry.action === action);
    const [push] = byAction('manifest.push');
    assert.equal(push?.project, 'team');
    assert.equal(push?.repository, 'team/app');
    assert.equal(push?.route, '/v2/{name}/manifests/{reference}');
    assert.deepEqual(push?.detail, { digest: manifestDigest, tag: '1.0', media_type: ociManifest });
    assert.deepEqual(byAction('manifest.pull')[0]?.detail, {
      digest: manifestDigest,
      tag: '1.0',
      media_type: ociManifest,
    });
    assert.deepEqual(byAction('tag.delete')[0]?.detail?.error, 'DENIED');
    assert.deepEqual(
      byAction('member.create').map((entry) => [entry.project, entry.detail?.member_name, entry.detail?.role]),
      [
        ['team', 'alice', 'developer'],
        ['team', 'carol', 'projectAdmin'],
      ],
    );
    const [robot] = byAction('robot.create');
    assert.equal(robot?.detail?.name, 'robot$team+ci');
    assert.equal(robot?.route, '/api/v1/projects/{name}/robots');
    assert.ok(!JSON.stringify(entries).includes('secret'), 'no entry carries a secret');
    assert.equal(byAction('project.create')[0]?.project, 'team');
    const [repositoryDelete] = byAction('repository.delete');
    assert.deepEqual(
      [repositoryDelete?.project, repositoryDelete?.repository, repositoryDelete?.route],
      ['team', 'team/app', '/api/v1/projects/{name}/repositories/{repository}'],
    );
  });

  it('records failed and successful logins on /v2, the token service and the API', () => {
    const logins = entries.filter((entry) => entry.action === 'login');
    const [failure, ...moreFailures] = logins.filter((entry) => entry.outcome === 'failure');
    assert.deepEqual(moreFailures, []);
    assert.deepEqual(
      [failure?.actor, failure?.actor_kind, failure?.status, failure?.route, failure?.source_address, failure?.detail],
      ['alice', 'anonymous', 401, '/v2/*', '127.0.0.1', { method: 'basic', reason: 'invalid_credentials' }],
    );
    const successes = logins
      .filter((entry) => entry.outcome === 'success')
      .map((entry) => `${entry.actor}/${entry.actor_kind}/${entry.detail?.method}/${entry.route}`);
    assert.ok(successes.includes('admin/local/basic//api/v1/users'), successes.join(' '));
    assert.ok(successes.includes('alice/local/token//service/token'), successes.join(' '));
    assert.ok(successes.includes('alice/local/basic//v2/*'), successes.join(' '));
  });

  it('filters by time, actor, project, action, resource and outcome', async () => {
    const actions = async (query: string) =>
      (await auditPage(wharf, `${query}&page_size=100`)).entries.map((entry) => entry.action);
    assert.deepEqual(await actions('?actor=alice&action=manifest.push,manifest.pull'), [
      'manifest.pull',
      'manifest.push',
    ]);
    assert.deepEqual(await actions('?outcome=failure&project=team'), ['tag.delete']);
    assert.deepEqual(await actions(`?resource=team/app&actor=admin`), [
      'repository.delete',
      'manifest.delete',
      'tag.delete',
    ]);
    assert.deepEqual(await actions(`?resource=team/app:1.0&actor=admin`), ['tag.delete']);
    const since = await actions(`?from=${encodeURIComponent(afterSetup)}&action=robot.create,manifest.push`);
    assert.deepEqual(since, ['manifest.push']);
    const until = await actions(`?to=${encodeURIComponent(afterSetup)}&action=robot.create,manifest.push`);
    assert.deepEqual(until, ['robot.create']);
    const invalid = await call(wharf, '/api/v1/audit-logs?from=yesterday', { auth: admin });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'UNSUPPORTED');
    const badOutcome = await call(wharf, '/api/v1/audit-logs?outcome=maybe', { auth: admin });
    assert.equal(badOutcome.status, 400);
  });

  it('pages newest first with X-Total-Count and Link headers', async () => {
    const query = '?project=team&action=member.create,robot.create,manifest.push';
    const first = await auditPage(wharf, `${query}&page_size=2`);
    assert.equal(first.result.headers.get('x-total-count'), '4');
    assert.deepEqual(
      first.entries.map((entry) => entry.action),
      ['manifest.push', 'robot.create'],
    );
    const next = nextLink(wharf.url, first.result);
    assert.ok(next);
    assert.equal(next.searchParams.get('page'), '2');
    assert.equal(next.searchParams.get('project'), 'team');
    const second = await send(next, { headers: { authorization: admin } });
    assert.deepEqual(
      second.json<Entry[]>().map((entry) => entry.action),
      ['member.create', 'member.create'],
    );
    assert.match(second.headers.get('link') ?? '', /rel="prev"/);
    assert.doesNotMatch(second.headers.get('link') ?? '', /rel="next"/);
  });

  it('shows a project admin its project only, and nobody else any of it', async () => {
    const forCarol = await allEntries(wharf, '', carol, '/api/v1/projects/team/audit-logs');
    assert.ok(forCarol.length >= 9);
    assert.ok(forCarol.every((entry) => entry.project === 'team'));
    assert.ok(!forCarol.some((entry) => entry.action === 'user.create'));
    for (const [path, auth] of [
      ['/api/v1/audit-logs', carol],
      ['/api/v1/audit-logs', alice],
      ['/api/v1/projects/team/audit-logs', alice],
    ] as const) {
      const refused = await call(wharf, path, { auth });
      assert.equal(refused.status, 403, `${path}: ${refused.text()}`);
      assert.equal(refused.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'DENIED');
    }
    assert.equal((await call(wharf, '/api/v1/audit-logs')).status, 401);
    const document = (await call(wharf, '/api/v1/openapi.json')).json<{ paths: Record<string, unknown> }>();
    assert.ok(document.paths['/audit-logs']);
    assert.ok(document.paths['/projects/{name}/audit-logs']);
  });

  it('counts the push, the pull, the uploads and the failed login in /metrics', async () => {
    const exposition = (await call(wharf, '/metrics')).text();
    assert.equal(metricValue(exposition, `wharf_manifest_pushes_total{media_type="${ociManifest}"}`), 1);
    assert.equal(metricValue(exposition, `wharf_manifest_pulls_total{media_type="${ociManifest}"}`), 1);
    assert.equal(metricValue(exposition, 'wharf_blob_upload_size_bytes_count'), 2);
    assert.equal(metricValue(exposition, 'wharf_blob_upload_size_bytes_sum'), layerBytes.length + configBytes.length);
    assert.equal(metricValue(exposition, 'wharf_blob_upload_duration_seconds_count'), 2);
    assert.ok((metricValue(exposition, 'wharf_blob_upload_duration_seconds_sum') ?? 0) > 0);
    assert.equal(metricValue(exposition, 'wharf_auth_failures_total{reason="invalid_credentials"}'), 1);
    assert.ok((metricValue(exposition, 'wharf_audit_entries_written_total') ?? 0) >= entries.length);
    assert.equal(metricValue(exposition, 'wharf_audit_entries_dropped_total'), 0);
  });

  it('counts a locked-out login as a rate-limited request and records it', async () => {
    const mallory = basic('mallory', 'guess');
    for (let attempt = 0; attempt < 2; attempt++)
      assert.equal((await call(wharf, '/v2/', { auth: mallory })).status, 401);
    const locked = await call(wharf, '/v2/', { auth: mallory });
    assert.equal(locked.status, 429);
    const exposition = (await call(wharf, '/metrics')).text();
    assert.equal(metricValue(exposition, 'wharf_auth_failures_total{reason="locked_out"}'), 1);
    assert.equal(metricValue(exposition, 'wharf_http_rate_limited_requests_total{handler="base"}'), 1);
    const logins = (await auditPage(wharf, '?actor=mallory&action=login')).entries;
    assert.deepEqual(
      logins.map((entry) => [entry.outcome, entry.status, entry.detail?.reason]),
      [
        ['failure', 429, 'locked_out'],
        ['failure', 401, 'invalid_credentials'],
        ['failure', 401, 'invalid_credentials'],
      ],
    );
  });

  it('exports entries as JSON lines with wharf audit export', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-audit-export-'));
    try {
      const env = {
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: wharf.dataDir,
        ...((await testDatabaseEnv(wharf.dataDir)) ?? {}),
      };
      const file = join(dir, 'audit.jsonl');
      const exported = await runWharf(
        ['audit', 'export', '--actor', 'alice', '--action', 'manifest.push,manifest.pull,tag.delete', '--output', file],
        env,
      );
      assert.equal(exported.code, 0, exported.stderr);
      assert.equal(exported.stdout, '');
      assert.match(exported.stderr, new RegExp(`exported 3 entries to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      const lines = (await readFile(file, 'utf8')).split('\n');
      assert.equal(lines.pop(), '');
      const exportedEntries = lines.map((line) => JSON.parse(line) as Entry);
      assert.deepEqual(
        exportedEntries.map((entry) => [entry.action, entry.outcome]),
        [
          ['manifest.push', 'success'],
          ['manifest.pull', 'success'],
          ['tag.delete', 'failure'],
        ],
      );
      const viaApi = entries.find((entry) => entry.action === 'manifest.push');
      assert.deepEqual(exportedEntries[0], viaApi, 'the same entry as the API shows');

      const toStdout = await runWharf(['audit', 'export', '--project', 'team', '--outcome', 'failure'], env);
      assert.equal(toStdout.code, 0, toStdout.stderr);
      assert.deepEqual(
        toStdout.stdout
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line) as Entry).action),
        ['tag.delete'],
      );
      assert.match(toStdout.stderr, /exported 1 entry to standard output/);

      const invalid = await runWharf(['audit', 'export', '--from', 'last tuesday'], env);
      assert.equal(invalid.code, 2);
      assert.match(invalid.stderr, /--from: expected an RFC 3339 time/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('audit log retention and sign-in failures', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWharf({
      // OpenID Connect is configured (its provider is never reached) to see a failed sign-in recorded.
      configYaml: [
        'auth:',
        '  projects:',
        '    enabled: true',
        '  admin:',
        '    password: admin-password-1',
        '  oidc:',
        '    issuer: http://127.0.0.1:9/',
        '    clientid: wharf',
        'audit:',
        '  retention: 2s',
        '',
      ].join('\n'),
    });
  });
  after(async () => {
    await wharf?.close();
  });

  it('records a failed OpenID Connect sign-in', async () => {
    const callback = await call(wharf, '/oidc/callback?code=forged&state=forged');
    assert.equal(callback.status, 400);
    const [signIn] = (await auditPage(wharf, '?action=login&outcome=failure')).entries;
    assert.deepEqual(
      [signIn?.actor, signIn?.route, signIn?.status, signIn?.detail],
      ['', '/oidc/callback', 400, { method: 'oidc', reason: 'oidc_error' }],
    );
  });

  it('purges entries older than audit.retention', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      assert.equal((await call(wharf, '/v2/', { auth: basic('nobody', `guess-${attempt}`) })).status, 401);
    }
    const recorded = await auditPage(wharf, '?actor=nobody');
    assert.equal(recorded.result.headers.get('x-total-count'), '3');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { result } = await auditPage(wharf, '?actor=nobody');
      if (result.headers.get('x-total-count') === '0') break;
      assert.ok(Date.now() < deadline, 'the entries are still there 10 s later');
      await sleep(250);
    }
    const exposition = (await call(wharf, '/metrics')).text();
    assert.ok((metricValue(exposition, 'wharf_audit_entries_purged_total') ?? 0) >= 3);
  });
});
