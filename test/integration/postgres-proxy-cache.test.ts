import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { api, basicOf, type Credentials, createProject, getManifestAs } from '../helpers/auth.ts';
import { type CountingForwarder, startCountingForwarder } from '../helpers/counting-forwarder.ts';
import { type Postgres, startPostgres } from '../helpers/postgres.ts';
import { buildImage, pushImage, randomBlob } from '../helpers/push.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

const admin: Credentials = { username: 'admin', password: 'first-admin-password' };

/** Proxy projects and tag checks kept in PostgreSQL: settings, sealed credentials, TTL upserts. */
describe('proxy projects on PostgreSQL', () => {
  let postgres: Postgres;
  let databaseUrl: string;
  let upstream: ReferenceRegistry;
  let forwarder: CountingForwarder;
  let wharf: WharfProcess;

  before(async () => {
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase();
    upstream = await startReferenceRegistry();
    forwarder = await startCountingForwarder(upstream.url);
    wharf = await startWharf({
      env: { WHARF_ADMIN_PASSWORD: admin.password, REGISTRY_DATABASE_URL: databaseUrl },
      configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
    });
  });

  after(async () => {
    await wharf?.close();
    await forwarder?.close();
    await upstream?.close();
    await postgres?.stop();
  });

  it('keeps the settings with the password sealed, and revalidates tags once per TTL', async () => {
    const first = buildImage([randomBlob(2048)], 'pg-1');
    const second = buildImage([randomBlob(2048)], 'pg-2');
    assert.equal((await pushImage(upstream.url, 'team/app', 'v1', first)).status, 201);
    await createProject(wharf.url, admin, 'cache', true);
    const saved = await api(wharf.url, 'PUT', '/projects/cache/proxy-cache', {
      as: admin,
      body: {
        url: forwarder.url,
        credential: { type: 'basic', access_key: 'bot', access_secret: 'sealed-in-postgres' },
        tag_ttl_seconds: 1,
      },
    });
    assert.equal(saved.status, 200, saved.text());

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const rows = await client.query<{ username: string; password: string; tag_ttl_ms: string }>(
        'select username, password, tag_ttl_ms from proxy_projects',
      );
      assert.equal(rows.rows.length, 1);
      assert.equal(rows.rows[0]?.username, 'bot');
      assert.match(rows.rows[0]?.password ?? '', /^v1:/);
      assert.doesNotMatch(rows.rows[0]?.password ?? '', /sealed-in-postgres/);
      assert.equal(Number(rows.rows[0]?.tag_ttl_ms), 1000);

      const pull = async () => {
        const answer = await getManifestAs(wharf.url, 'cache/team/app', 'v1', basicOf(admin));
        assert.equal(answer.status, 200, answer.text());
        return answer.headers.get('docker-content-digest');
      };
      assert.equal(await pull(), first.manifest.digest);
      assert.equal((await pushImage(upstream.url, 'team/app', 'v1', second)).status, 201);
      await sleep(1_200);
      assert.equal(await pull(), second.manifest.digest, 'the tag moved upstream: fetched again after the TTL');
      await sleep(1_200);
      const seen = forwarder.requests.length;
      assert.equal(await pull(), second.manifest.digest);
      assert.deepEqual(
        forwarder.requests.slice(seen).map((request) => request.method),
        ['HEAD'],
        'an unchanged tag costs one HEAD',
      );
      const checks = await client.query<{ repository: string; tag: string; digest: string }>(
        'select repository, tag, digest from proxy_tag_checks',
      );
      assert.deepEqual(checks.rows, [{ repository: 'cache/team/app', tag: 'v1', digest: second.manifest.digest }]);
    } finally {
      await client.end();
    }
  });
});
