import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../src/oci/digest.ts';
import {
  type CredentialSource,
  isRegistryClientError,
  RegistryClient,
  type RegistryClientError,
  referrersFallbackTag,
} from '../../src/replication/client/index.ts';
import { type Credentials, createProject } from '../helpers/auth.ts';
import { emptyDescriptor, emptyJson, MediaType, sha256 } from '../helpers/http.ts';
import { type ReferenceRegistry, startReferenceRegistry } from '../helpers/reference-registry.ts';
import { startWharf, type WharfProcess } from '../helpers/wharf.ts';

/**
 * The registry client against real registries: Wharf open, Wharf with its token service (Bearer
 * tokens per scope), and CNCF Distribution 2.8 (no referrers API: the tag schema fallback).
 */

interface Target {
  url: string;
  credentials?: CredentialSource;
  /** Whether the registry answers the referrers API (else the client keeps the fallback tag). */
  referrersApi: boolean;
  authScheme: string | undefined;
}

async function read(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const found: T[] = [];
  for await (const item of items) found.push(item);
  return found;
}

function blob(bytes: Buffer): { digest: Digest; size: number; mediaType: string; bytes: Buffer } {
  return { digest: sha256(bytes) as Digest, size: bytes.length, mediaType: MediaType.ociLayer, bytes };
}

async function rejection(promise: Promise<unknown>): Promise<RegistryClientError> {
  const error = await promise.then(
    () => assert.fail('the call succeeded'),
    (caught: unknown) => caught,
  );
  assert.ok(isRegistryClientError(error), `not a RegistryClientError: ${String(error)}`);
  return error;
}

/** The same conversation with each registry. */
function clientContract(name: string, target: () => Target): void {
  describe(name, () => {
    let client: RegistryClient;
    const repository = `team/client-${randomBytes(3).toString('hex')}`;
    const layer = blob(randomBytes(40_000));
    const config = blob(
      Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })),
    );
    let manifestBytes: Buffer;
    let manifestDigest: Digest;

    before(() => {
      const { url, credentials } = target();
      client = new RegistryClient({ registry: url, credentials, chunkSize: 16 * 1024 });
    });
    after(() => client?.close());

    it('pings the API and learns how the registry authenticates', async () => {
      const ping = await client.ping();
      assert.equal(ping.authScheme, target().authScheme);
      assert.equal(ping.apiVersion, 'registry/2.0');
    });

    it('pushes blobs in PATCH chunks and in one PUT, and streams them back verified', async () => {
      await client.pushBlob(repository, layer, Readable.from([layer.bytes]));
      await new RegistryClient({ registry: target().url, credentials: target().credentials }).pushBlob(
        repository,
        config,
        Readable.from([config.bytes]),
      );
      assert.equal(await client.statBlob(repository, layer.digest), layer.size);
      assert.equal(await client.statBlob(repository, config.digest), config.size);
      const download = await client.openBlob(repository, { digest: layer.digest });
      assert.equal(download.size, layer.size);
      assert.deepEqual(await read(download.content), layer.bytes);
    });

    it('answers undefined for a blob or manifest the repository does not hold, and 404 errors with the OCI code', async () => {
      assert.equal(await client.statBlob(repository, sha256(randomBytes(8)) as Digest), undefined);
      assert.equal(await client.headManifest(repository, 'no-such-tag'), undefined);
      const error = await rejection(client.getManifest(repository, 'no-such-tag'));
      assert.equal(error.status, 404);
      assert.equal(error.code, 'MANIFEST_UNKNOWN');
      assert.equal(error.retryable, false);
    });

    it('puts a manifest by tag and gets it back by tag and digest, byte for byte', async () => {
      manifestBytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
          layers: [{ mediaType: MediaType.ociLayer, digest: layer.digest, size: layer.size }],
        }),
      );
      const pushed = await client.putManifest(repository, 'v1', {
        bytes: manifestBytes,
        mediaType: MediaType.ociManifest,
      });
      manifestDigest = pushed.digest;
      assert.equal(manifestDigest, sha256(manifestBytes));
      const byTag = await client.getManifest(repository, 'v1');
      assert.deepEqual(byTag.bytes, manifestBytes);
      assert.equal(byTag.digest, manifestDigest);
      assert.equal(byTag.mediaType, MediaType.ociManifest);
      const byDigest = await client.getManifest(repository, manifestDigest);
      assert.deepEqual(byDigest.bytes, manifestBytes);
      assert.deepEqual(await client.headManifest(repository, 'v1'), {
        digest: manifestDigest,
        mediaType: MediaType.ociManifest,
        size: manifestBytes.length,
      });
    });

    it('mounts blobs from another repository of the registry', async () => {
      const other = `${repository}-mounted`;
      assert.equal(await client.mountBlob(other, layer.digest, repository), true);
      assert.equal(await client.mountBlob(other, config.digest, repository), true);
      assert.equal(await client.statBlob(other, layer.digest), layer.size);
      await client.putManifest(other, 'v1', { bytes: manifestBytes, mediaType: MediaType.ociManifest });
    });

    it('lists tags page by page following the Link header', async () => {
      for (const tag of ['v2', 'v3', 'v4', 'v5']) {
        await client.putManifest(repository, tag, { bytes: manifestBytes, mediaType: MediaType.ociManifest });
      }
      // Distribution 2.8 pages in its storage order, not sorted.
      const tags = await collect(client.tags(repository, { pageSize: 2 }));
      assert.deepEqual([...tags].sort(), ['v1', 'v2', 'v3', 'v4', 'v5']);
    });

    it('lists the catalog page by page', async () => {
      const repositories = await collect(client.repositories({ pageSize: 1 }));
      assert.ok(repositories.includes(repository), `${repository} missing from ${repositories.join(', ')}`);
      assert.ok(repositories.includes(`${repository}-mounted`));
      assert.equal(new Set(repositories).size, repositories.length, 'a repository listed twice');
    });

    it('finds referrers through the API or the tag schema fallback', async () => {
      await client.pushBlob(
        repository,
        { digest: emptyDescriptor.digest as Digest, size: 2 },
        Readable.from([emptyJson]),
      );
      const signature = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          artifactType: 'application/vnd.example.signature',
          config: emptyDescriptor,
          layers: [emptyDescriptor],
          subject: { mediaType: MediaType.ociManifest, digest: manifestDigest, size: manifestBytes.length },
          annotations: { 'org.example.signer': 'ci' },
        }),
      );
      const pushed = await client.putManifest(repository, sha256(signature), {
        bytes: signature,
        mediaType: MediaType.ociManifest,
      });
      if (target().referrersApi) {
        assert.equal(pushed.subject, manifestDigest);
        assert.equal(pushed.referrersTag, undefined);
      } else {
        assert.equal(pushed.referrersTag, referrersFallbackTag(manifestDigest));
        assert.equal(pushed.referrersTag, `sha256-${manifestDigest.slice('sha256:'.length)}`);
      }
      const expected = {
        mediaType: MediaType.ociManifest,
        digest: sha256(signature),
        size: signature.length,
        artifactType: 'application/vnd.example.signature',
        annotations: { 'org.example.signer': 'ci' },
      };
      assert.deepEqual(await collect(client.referrers(repository, manifestDigest)), [expected]);
      assert.deepEqual(
        await collect(client.referrers(repository, manifestDigest, { artifactType: 'application/vnd.example.sbom' })),
        [],
      );
      // Pushing it again changes nothing.
      await client.putManifest(repository, sha256(signature), { bytes: signature, mediaType: MediaType.ociManifest });
      assert.equal((await collect(client.referrers(repository, manifestDigest))).length, 1);
    });

    it('refuses a manifest whose bytes do not match the digest asked for', async () => {
      const error = await rejection(
        client.putManifest(repository, sha256(Buffer.from('other')), {
          bytes: manifestBytes,
          mediaType: MediaType.ociManifest,
        }),
      );
      assert.equal(error.code, 'DIGEST_INVALID');
    });
  });
}

describe('registry client', () => {
  let openWharf: WharfProcess;
  let tokenWharf: WharfProcess;
  let reference: ReferenceRegistry;
  const admin: Credentials = { username: 'admin', password: 'client-test-admin-1' };

  before(async () => {
    [openWharf, tokenWharf, reference] = await Promise.all([
      startWharf(),
      startWharf({
        env: { WHARF_ADMIN_PASSWORD: admin.password, REGISTRY_LOG_FORMATTER: 'text' },
        configYaml: ['auth:', '  projects:', '    enabled: true'].join('\n'),
      }),
      startReferenceRegistry(),
    ]);
    await createProject(tokenWharf.url, admin, 'team');
  });

  after(async () => {
    await Promise.all([openWharf?.close(), tokenWharf?.close(), reference?.close()]);
  });

  clientContract('against Wharf, open', () => ({ url: openWharf.url, referrersApi: true, authScheme: undefined }));
  clientContract('against Wharf with token authentication', () => ({
    url: tokenWharf.url,
    credentials: admin,
    referrersApi: true,
    authScheme: 'bearer',
  }));
  clientContract('against Distribution 2.8 (the reference registry)', () => ({
    url: reference.url,
    referrersApi: false,
    authScheme: undefined,
  }));

  it('asks the token service once per scope and reuses the token until it nears expiry', async () => {
    const client = new RegistryClient({ registry: tokenWharf.url, credentials: admin });
    const before = tokenIssues(tokenWharf.output());
    const repository = `team/scopes-${randomBytes(3).toString('hex')}`;
    for (let index = 0; index < 5; index += 1) {
      assert.equal(await client.statBlob(repository, sha256(randomBytes(4)) as Digest), undefined);
    }
    // A push token (pull,push) also serves later pulls of the same repository.
    const bytes = randomBytes(100);
    await client.pushBlob(repository, { digest: sha256(bytes) as Digest, size: 100 }, Readable.from([bytes]));
    assert.equal(await client.statBlob(repository, sha256(bytes) as Digest), 100);
    const issued = tokenIssues(tokenWharf.output()).slice(before.length);
    assert.deepEqual(issued, [`["repository:${repository}:pull"]`, `["repository:${repository}:pull,push"]`]);
    await client.close();
  });

  it('reports refused credentials as a 401 of the token service', async () => {
    const client = new RegistryClient({
      registry: tokenWharf.url,
      credentials: { username: 'admin', password: 'wrong-password' },
      retry: { attempts: 1 },
    });
    const error = await rejection(client.getManifest('team/app', 'v1'));
    assert.equal(error.status, 401);
    assert.equal(error.code, 'UNAUTHORIZED');
    assert.match(error.message, /token service .* refused the credentials/);
    await client.close();
  });

  it('works anonymously until the registry asks, then fails with its 401 when there is nothing to send', async () => {
    const client = new RegistryClient({ registry: tokenWharf.url });
    const error = await rejection(client.getManifest('team/app', 'v1'));
    assert.equal(error.status, 401);
    assert.equal(error.code, 'UNAUTHORIZED');
    await client.close();
  });
});

/** The `requested=[…]` of each "token issued" line Wharf logged, in order. */
function tokenIssues(output: string): string[] {
  return [...output.matchAll(/token issued .*requested=(\[[^\]]*\])/g)].map((match) => match[1] as string);
}
