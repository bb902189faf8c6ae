import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  type Descriptor,
  descriptorOf,
  emptyDescriptor,
  emptyJson,
  type HttpResult,
  MediaType,
  nextLink,
  ociIndex,
  ociManifest,
  type PushedImage,
  type PushedManifest,
  pushBlob,
  pushImage,
  pushManifest,
  randomBlob,
  send,
  sha256,
  uniqueRepo,
} from '../../helpers/http.ts';
import { startWharf, type WharfProcess } from '../../helpers/wharf.ts';

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

describe('referrers (end-12a, end-12b)', () => {
  let wharf: WharfProcess;
  before(async () => {
    wharf = await startWharf({ env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true' } });
  });
  after(async () => {
    await wharf?.close();
  });

  const referrersUrl = (repo: string, digest: string, query = '') =>
    `${wharf.url}/v2/${repo}/referrers/${digest}${query}`;

  function assertIndex(result: HttpResult): ReferrersIndex {
    assert.equal(result.status, 200, result.text());
    assert.equal(result.headers.get('content-type'), MediaType.ociIndex);
    const index = result.json<ReferrersIndex>();
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, MediaType.ociIndex);
    assert.ok(Array.isArray(index.manifests), 'manifests is an array');
    return index;
  }

  function byDigest(descriptors: Descriptor[]): Map<string, Descriptor> {
    return new Map(descriptors.map((descriptor) => [descriptor.digest, descriptor]));
  }

  function expectedDescriptor(pushed: PushedManifest, artifactType: string | undefined, annotations: object) {
    return {
      mediaType: pushed.mediaType,
      digest: pushed.digest,
      size: pushed.bytes.length,
      ...(artifactType === undefined ? {} : { artifactType }),
      annotations,
    };
  }

  const subjectOf = (pushed: PushedManifest): Descriptor => descriptorOf(pushed.mediaType, pushed.bytes);

  async function pushReferrer(
    repo: string,
    subject: Descriptor,
    parts: { artifactType?: string; annotations: Record<string, string>; configType?: string },
  ): Promise<PushedManifest> {
    let config = emptyDescriptor;
    if (parts.configType !== undefined) {
      const configBytes = Buffer.from(JSON.stringify({ nonce: randomBlob(4).toString('hex') }));
      await pushBlob(wharf.url, repo, configBytes);
      config = descriptorOf(parts.configType, configBytes);
    }
    const manifest = ociManifest({
      artifactType: parts.artifactType,
      config,
      layers: [emptyDescriptor],
      subject,
      annotations: parts.annotations,
    });
    const bytes = Buffer.from(JSON.stringify(manifest));
    return pushManifest(wharf.url, repo, sha256(bytes), bytes, MediaType.ociManifest);
  }

  describe('listing', () => {
    const repo = uniqueRepo('referrers');
    let subject: PushedImage;
    let sbom: PushedManifest;
    let signature: PushedManifest;
    let bundle: PushedManifest;
    let plainIndex: PushedManifest;
    const sbomAnnotations = {
      'org.opencontainers.image.created': '2024-01-01T14:42:55Z',
      'org.example.sbom.format': 'json',
    };
    const signatureAnnotations = { 'org.example.signature.fingerprint': 'abcd' };
    const bundleAnnotations = { 'org.example.bundle': 'yes' };
    const plainAnnotations = { 'org.example.plain': 'index' };

    before(async () => {
      subject = await pushImage(wharf.url, repo, 'v1');
      await pushBlob(wharf.url, repo, emptyJson);
      sbom = await pushReferrer(repo, subjectOf(subject), {
        artifactType: 'application/vnd.example.sbom.v1',
        annotations: sbomAnnotations,
      });
      signature = await pushReferrer(repo, subjectOf(subject), {
        configType: 'application/vnd.example.signature.config.v1+json',
        annotations: signatureAnnotations,
      });
      const subjectDescriptor = descriptorOf(subject.mediaType, subject.bytes);
      const bundleBytes = Buffer.from(
        JSON.stringify(
          ociIndex({
            artifactType: 'application/vnd.example.bundle.v1',
            manifests: [descriptorOf(sbom.mediaType, sbom.bytes)],
            subject: subjectDescriptor,
            annotations: bundleAnnotations,
          }),
        ),
      );
      bundle = await pushManifest(wharf.url, repo, sha256(bundleBytes), bundleBytes, MediaType.ociIndex);
      const plainBytes = Buffer.from(
        JSON.stringify(ociIndex({ manifests: [], subject: subjectDescriptor, annotations: plainAnnotations })),
      );
      plainIndex = await pushManifest(wharf.url, repo, sha256(plainBytes), plainBytes, MediaType.ociIndex);
      // Neither of these refers to the subject: one has no subject, one lives in another repository.
      await pushImage(wharf.url, repo, 'unrelated');
      const elsewhere = uniqueRepo('referrers-elsewhere');
      await pushImage(wharf.url, elsewhere, 'v1', {});
      await pushBlob(wharf.url, elsewhere, emptyJson);
      await pushReferrer(elsewhere, subjectOf(subject), {
        artifactType: 'application/vnd.example.sbom.v1',
        annotations: {},
      });
    });

    it('lists every manifest whose subject is the digest, with artifactType and annotations', async () => {
      const index = assertIndex(await send(referrersUrl(repo, subject.digest)));
      const found = byDigest(index.manifests);
      assert.equal(index.manifests.length, 4, JSON.stringify(index.manifests));
      assert.deepEqual(
        found.get(sbom.digest),
        expectedDescriptor(sbom, 'application/vnd.example.sbom.v1', sbomAnnotations),
      );
      assert.deepEqual(
        found.get(signature.digest),
        expectedDescriptor(signature, 'application/vnd.example.signature.config.v1+json', signatureAnnotations),
        'an image manifest without artifactType reports its config mediaType',
      );
      assert.deepEqual(
        found.get(bundle.digest),
        expectedDescriptor(bundle, 'application/vnd.example.bundle.v1', bundleAnnotations),
      );
      assert.deepEqual(
        found.get(plainIndex.digest),
        expectedDescriptor(plainIndex, undefined, plainAnnotations),
        'an index without artifactType omits it',
      );
    });

    it('?artifactType= filters and says so in OCI-Filters-Applied', async () => {
      const query = `?artifactType=${encodeURIComponent('application/vnd.example.sbom.v1')}`;
      const result = await send(referrersUrl(repo, subject.digest, query));
      const index = assertIndex(result);
      assert.equal(result.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(index.manifests, [expectedDescriptor(sbom, 'application/vnd.example.sbom.v1', sbomAnnotations)]);
    });

    it('the filter matches the config mediaType of a manifest without artifactType', async () => {
      const query = `?artifactType=${encodeURIComponent('application/vnd.example.signature.config.v1+json')}`;
      const index = assertIndex(await send(referrersUrl(repo, subject.digest, query)));
      assert.deepEqual(
        index.manifests.map((descriptor) => descriptor.digest),
        [signature.digest],
      );
    });

    it('a filter that matches nothing gives an empty list, still with OCI-Filters-Applied', async () => {
      const result = await send(referrersUrl(repo, subject.digest, '?artifactType=application%2Fvnd.example.none'));
      assert.deepEqual(assertIndex(result).manifests, []);
      assert.equal(result.headers.get('oci-filters-applied'), 'artifactType');
    });

    it('a deleted referrer leaves the list', async () => {
      const extra = await pushReferrer(repo, subjectOf(subject), {
        artifactType: 'application/vnd.example.temp',
        annotations: {},
      });
      const listed = byDigest(assertIndex(await send(referrersUrl(repo, subject.digest))).manifests);
      assert.ok(listed.has(extra.digest));
      const deleted = await send(`${wharf.url}/v2/${repo}/manifests/${extra.digest}`, { method: 'DELETE' });
      assert.equal(deleted.status, 202);
      const remaining = byDigest(assertIndex(await send(referrersUrl(repo, subject.digest))).manifests);
      assert.ok(!remaining.has(extra.digest));
      assert.equal(remaining.size, 4);
    });
  });

  it('a subject with no referrers gives 200 and an empty list', async () => {
    const repo = uniqueRepo('referrers-none');
    const image = await pushImage(wharf.url, repo, 'v1');
    assert.deepEqual(assertIndex(await send(referrersUrl(repo, image.digest))).manifests, []);
    assert.deepEqual(assertIndex(await send(referrersUrl(repo, sha256(randomBlob(8))))).manifests, []);
  });

  it('referrers pushed before their subject are listed', async () => {
    const repo = uniqueRepo('referrers-early');
    await pushBlob(wharf.url, repo, emptyJson);
    const futureSubject = descriptorOf(MediaType.ociManifest, Buffer.from('{"future":true}'));
    const referrer = await pushReferrer(repo, futureSubject, {
      artifactType: 'application/vnd.example.early',
      annotations: { early: 'true' },
    });
    const index = assertIndex(await send(referrersUrl(repo, futureSubject.digest)));
    assert.deepEqual(index.manifests, [
      expectedDescriptor(referrer, 'application/vnd.example.early', { early: 'true' }),
    ]);
  });

  it('an unknown repository never gives a 5xx', async () => {
    const result = await send(referrersUrl(uniqueRepo('referrers-no-repo'), sha256(randomBlob(8))));
    if (result.status === 200) assert.deepEqual(assertIndex(result).manifests, []);
    else assertError(result, 404, 'NAME_UNKNOWN');
  });

  it('a malformed digest is 400', async () => {
    const repo = uniqueRepo('referrers-bad');
    await pushImage(wharf.url, repo, 'v1');
    for (const digest of ['sha256:short', 'latest', `sha256:${'Z'.repeat(64)}`]) {
      assertError(await send(referrersUrl(repo, digest)), 400, 'DIGEST_INVALID');
    }
  });

  describe('paging', () => {
    const repo = uniqueRepo('referrers-paged');
    const total = 130;
    const many = new Set<string>();
    const others = new Set<string>();
    let subject: PushedImage;

    before(async () => {
      subject = await pushImage(wharf.url, repo, 'v1');
      await pushBlob(wharf.url, repo, emptyJson);
      for (let i = 0; i < total; i++) {
        const artifactType = i % 10 === 0 ? 'application/vnd.example.other' : 'application/vnd.example.many';
        const referrer = await pushReferrer(repo, subjectOf(subject), {
          artifactType,
          annotations: { 'org.example.index': String(i) },
        });
        (artifactType === 'application/vnd.example.many' ? many : others).add(referrer.digest);
      }
    });

    /** Follows Link rel="next" from `first`; returns each page's descriptors. */
    async function pagesFrom(first: string, filtered: boolean): Promise<string[][]> {
      const pages: string[][] = [];
      let url: URL | undefined = new URL(first);
      while (url !== undefined) {
        const result = await send(url);
        const index = assertIndex(result);
        if (filtered) assert.equal(result.headers.get('oci-filters-applied'), 'artifactType', `page ${pages.length}`);
        pages.push(index.manifests.map((descriptor) => descriptor.digest));
        url = nextLink(wharf.url, result);
        assert.ok(pages.length <= total, 'pagination terminates');
      }
      return pages;
    }

    it('an unpaged request returns every referrer (following Link if the server pages)', async () => {
      const seen = (await pagesFrom(referrersUrl(repo, subject.digest), false)).flat();
      assert.equal(seen.length, total);
      assert.deepEqual(new Set(seen), new Set([...many, ...others]));
    });

    it('?n= pages with Link rel="next" until every referrer was returned once', async () => {
      const pages = await pagesFrom(referrersUrl(repo, subject.digest, '?n=50'), false);
      assert.deepEqual(
        pages.map((page) => page.length),
        [50, 50, 30],
      );
      const seen = pages.flat();
      assert.equal(new Set(seen).size, total, 'no descriptor on two pages');
      assert.deepEqual(new Set(seen), new Set([...many, ...others]));
    });

    it('the artifactType filter holds on every page', async () => {
      const query = `?n=40&artifactType=${encodeURIComponent('application/vnd.example.many')}`;
      const pages = await pagesFrom(referrersUrl(repo, subject.digest, query), true);
      assert.ok(pages.length >= 3, `${pages.length} pages`);
      const seen = pages.flat();
      assert.equal(seen.length, many.size);
      assert.deepEqual(new Set(seen), many);
    });
  });
});
