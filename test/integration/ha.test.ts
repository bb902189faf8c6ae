import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCephRgw } from '../helpers/ceph-rgw.ts';
import { buildImageLayout, layoutBlobs, layoutTag } from '../helpers/images.ts';
import { checkDeployedConfig, type Nginx, startNginx } from '../helpers/nginx.ts';
import { startPostgres } from '../helpers/postgres.ts';
import {
  buildImage,
  errorCode,
  expectStatus,
  type Image,
  listTags,
  pullAndVerify,
  pushImage,
  randomBlob,
  verifyBlob,
} from '../helpers/push.ts';
import { seededRandomBytes } from '../helpers/random-bytes.ts';
import { skopeo } from '../helpers/skopeo.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * Three Wharf processes behind nginx (deploy/nginx/wharf.conf), sharing http.secret, the metadata
 * database and the blob storage: any request may land on any instance, and losing one loses
 * nothing that was acknowledged.
 */

const secret = 'ha-test-shared-secret';
const KiB = 1024;

/** The state every instance shares: a PostgreSQL database and an S3 bucket (Ceph RADOS Gateway). */
interface SharedBackend {
  env: Record<string, string>;
  close(): Promise<void>;
}

async function startSharedBackend(): Promise<SharedBackend> {
  const [postgres, rgw] = await Promise.all([startPostgres(), startCephRgw()]);
  return {
    env: { REGISTRY_DATABASE_URL: await postgres.createDatabase(), ...rgw.s3Environment('wharf-ha') },
    close: async () => {
      await Promise.all([postgres.stop(), rgw.stop()]);
    },
  };
}

interface Cluster {
  instances: WharfProcess[];
  nginx: Nginx;
}

describe('three instances behind nginx', () => {
  let work: string;
  let backend: SharedBackend;
  let cluster: Cluster;
  let instanceEnv: Record<string, string>;
  const spares: WharfProcess[] = [];

  const startInstance = async (index: number): Promise<WharfProcess> => {
    const dataDir = join(work, `instance-${index}-${Date.now()}`);
    await mkdir(dataDir);
    return startWharf({ dataDir, env: instanceEnv, filesystemStorage: false });
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'wharf-ha-'));
    backend = await startSharedBackend();
    instanceEnv = {
      ...backend.env,
      REGISTRY_HTTP_SECRET: secret,
      REGISTRY_HTTP_TRUSTEDPROXIES: 'loopback',
      REGISTRY_LOG_FORMATTER: 'json',
      REGISTRY_LOG_ACCESSLOG_DISABLED: 'false',
    };
    // The first one creates the schema; the others find it.
    const first = await startInstance(0);
    const others = await Promise.all([startInstance(1), startInstance(2)]);
    const instances = [first, ...others];
    const nginx = await startNginx(instances.map((instance) => instance.host));
    cluster = { instances, nginx };
  });

  after(async () => {
    await cluster?.nginx.close();
    await Promise.all([...(cluster?.instances ?? []), ...spares].map((instance) => instance.stop()));
    await backend?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the deployed nginx configuration, TLS server included, passes nginx -t', async () => {
    assert.match(await checkDeployedConfig(), /test is successful/);
  });

  it('pushes and pulls with skopeo through nginx, every instance answering part of it', async () => {
    const { nginx, instances } = cluster;
    const layout = join(work, 'skopeo-source');
    const image = await buildImageLayout(layout, {
      tag: 'v1',
      layers: [
        { files: { 'etc/motd': 'behind a load balancer\n' } },
        { files: { 'opt/data.bin': seededRandomBytes('ha-skopeo', 256 * KiB) } },
        { files: { 'opt/more.bin': seededRandomBytes('ha-skopeo-2', 64 * KiB) } },
      ],
    });
    await skopeo(['copy', `oci:${layout}:v1`, `docker://${nginx.host}/ha/skopeo:v1`]);
    const pulled = join(work, 'skopeo-pulled');
    await skopeo(['copy', `docker://${nginx.host}/ha/skopeo:v1`, `oci:${pulled}:v1`]);

    assert.equal((await layoutTag(pulled, 'v1')).digest, image.manifest.digest);
    const blobs = await layoutBlobs(pulled);
    assert.deepEqual([...blobs.keys()].sort(), [...image.blobDigests].sort());
    const source = await layoutBlobs(layout);
    for (const [digest, blob] of blobs) {
      assert.equal(blob.contentDigest, digest);
      const original = source.get(digest);
      assert.ok(original, `pulled ${digest} was pushed`);
      assert.ok((await readFile(blob.path)).equals(await readFile(original.path)), `bytes of ${digest}`);
    }
    instances.forEach((instance, index) => {
      assert.ok(servedRepository(instance, 'ha/skopeo') > 0, `instance ${index} answered none of the requests`);
    });
  });

  it('completes a chunked upload whose requests each go to another instance, verifying the digest', async () => {
    const [a, b, c] = cluster.instances as [WharfProcess, WharfProcess, WharfProcess];
    const repo = 'ha/chunked';
    const blob = randomBlob(200 * KiB + 123);
    const cut = 96 * KiB;

    let location = await startUploadOn(a, repo);
    location = await patchOn(b, location, blob.bytes.subarray(0, cut), 0);
    location = await patchOn(c, location, blob.bytes.subarray(cut), cut);
    // The instance committing saw none of the bytes: it verifies the digest over what the others staged.
    const put = await fetch(withDigest(on(a, location), blob.digest), { method: 'PUT' });
    await expectStatus(put, 201, 'PUT on the first instance');
    assert.equal(put.headers.get('docker-content-digest'), blob.digest);
    for (const reader of [cluster.nginx.url, a.url, b.url, c.url]) {
      await verifyBlob(reader, repo, {
        mediaType: 'application/octet-stream',
        digest: blob.digest,
        size: blob.bytes.length,
      });
    }

    // A wrong digest is caught the same way, even with the last chunk in the PUT itself.
    const other = randomBlob(50 * KiB);
    let second = await startUploadOn(c, repo);
    second = await patchOn(a, second, other.bytes.subarray(0, 20 * KiB), 0);
    const wrong = await fetch(withDigest(on(b, second), blob.digest), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: other.bytes.subarray(20 * KiB),
    });
    assert.equal(wrong.status, 400);
    assert.equal(await errorCode(wrong), 'DIGEST_INVALID');
    const gone = await fetch(on(c, second));
    assert.equal(gone.status, 404);
    assert.equal(await errorCode(gone), 'BLOB_UPLOAD_UNKNOWN');
  });

  it('refuses a forged or altered upload state on every instance', async () => {
    const { nginx, instances } = cluster;
    const location = await startUploadOn(instances[0] as WharfProcess, 'ha/forged');
    const token = location.searchParams.get('_state') ?? '';
    const [body, signature] = token.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forgedBody = Buffer.from(JSON.stringify({ ...claims, offset: 4096 })).toString('base64url');
    const forged = withState(location, `${forgedBody}.${signature}`);
    for (const base of [nginx.url, ...instances.map((instance) => instance.url)]) {
      const response = await fetch(new URL(`${forged.pathname}${forged.search}`, base), {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from('forged'),
      });
      assert.equal(response.status, 404, `PATCH via ${base}`);
      assert.equal(await errorCode(response), 'BLOB_UPLOAD_INVALID');
    }
    const genuine = await fetch(new URL(`${location.pathname}${location.search}`, nginx.url));
    await expectStatus(genuine, 204, 'the genuine Location still works');
    assert.equal(genuine.headers.get('range'), '0-0');
  });

  it('loses no acknowledged push when an instance is SIGKILLed mid-run, and failed pushes succeed on retry', async (context) => {
    const { nginx, instances } = cluster;
    const victim = instances[1] as WharfProcess;
    const repo = 'ha/killed';

    // An upload the victim started and staged part of, to be finished elsewhere after its death.
    const orphan = randomBlob(40 * KiB);
    let orphanLocation = await startUploadOn(victim, repo);
    orphanLocation = await patchOn(victim, orphanLocation, orphan.bytes.subarray(0, 10 * KiB), 0);

    const pushes: { tag: string; image: Image; acknowledged: boolean }[] = [];
    let killed: Promise<void> | undefined;
    for (let index = 0; index < 20; index++) {
      const tag = `run-${index}`;
      const image = buildImage([randomBlob(4 * KiB + index), randomBlob(1 * KiB)], `ha-kill-${index}`);
      // After five pushes, the kill lands while the sixth is on its way.
      if (index === 5) killed = sleep(3).then(() => victim.kill());
      const acknowledged = await pushImage(nginx.url, repo, tag, image).then(
        () => true,
        () => false,
      );
      pushes.push({ tag, image, acknowledged });
    }
    await killed;
    assert.ok(servedRepository(victim, repo) > 0, 'the killed instance took part in the run');
    const acknowledged = pushes.filter((push) => push.acknowledged);
    const failed = pushes.filter((push) => !push.acknowledged);
    context.diagnostic(
      `${acknowledged.length} of 20 acknowledged; failed: ${failed.map((push) => push.tag).join(' ') || 'none'}`,
    );
    assert.ok(acknowledged.length >= 15, `only ${acknowledged.length} of 20 pushes were acknowledged`);

    for (const push of acknowledged) await pullAndVerify(nginx.url, repo, push.tag, push.image);
    for (const push of failed) {
      await pushImage(nginx.url, repo, push.tag, push.image);
      await pullAndVerify(nginx.url, repo, push.tag, push.image);
    }
    assert.deepEqual((await listTags(nginx.url, repo)).sort(), pushes.map((push) => push.tag).sort());

    // The orphaned upload goes on through nginx with the Location its dead instance gave.
    const rest = await fetch(new URL(`${orphanLocation.pathname}${orphanLocation.search}`, nginx.url), {
      method: 'PATCH',
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${10 * KiB}-${orphan.bytes.length - 1}`,
      },
      body: orphan.bytes.subarray(10 * KiB),
    });
    await expectStatus(rest, 202, 'PATCH of the orphaned upload via nginx');
    const commit = await fetch(withDigest(new URL(rest.headers.get('location') ?? '', nginx.url), orphan.digest), {
      method: 'PUT',
    });
    await expectStatus(commit, 201, 'PUT of the orphaned upload via nginx');
    await verifyBlob(nginx.url, repo, {
      mediaType: 'application/octet-stream',
      digest: orphan.digest,
      size: orphan.bytes.length,
    });

    // A replacement instance sees everything, including what was pushed while it was down.
    const replacement = await startInstance(3);
    spares.push(replacement);
    for (const push of pushes) await pullAndVerify(replacement.url, repo, push.tag, push.image);
  });
});

/** How many requests for `repository` the instance's access log shows. */
function servedRepository(instance: WharfProcess, repository: string): number {
  let count = 0;
  for (const line of instance.output().split('\n')) {
    const entry = jsonLine(line);
    if (entry?.['vars.name'] === repository && entry['http.response.status'] !== undefined) count++;
  }
  return count;
}

/** A complete JSON log line; undefined for anything else, such as a line still being written. */
function jsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The path and query of a Location, on a given instance. */
function on(instance: WharfProcess, location: URL): URL {
  return new URL(`${location.pathname}${location.search}`, instance.url);
}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

function withState(location: URL, token: string): URL {
  const url = new URL(location);
  url.searchParams.set('_state', token);
  return url;
}

async function startUploadOn(instance: WharfProcess, repo: string): Promise<URL> {
  const response = await fetch(`${instance.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(response, 202, `POST on ${instance.url}`);
  const location = new URL(response.headers.get('location') ?? '', instance.url);
  assert.ok(location.searchParams.get('_state'), 'the Location carries the upload state');
  return location;
}

/** PATCH one chunk on `instance` with the Location from the previous answer; returns the next Location. */
async function patchOn(instance: WharfProcess, location: URL, chunk: Buffer, start: number): Promise<URL> {
  const end = start + chunk.length - 1;
  const response = await fetch(on(instance, location), {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}` },
    body: chunk,
  });
  await expectStatus(response, 202, `PATCH ${start}-${end} on ${instance.url}`);
  assert.equal(response.headers.get('range'), `0-${end}`);
  return new URL(response.headers.get('location') ?? '', instance.url);
}
