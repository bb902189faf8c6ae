import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Descriptor } from '../../src/oci/manifest.ts';
import { bundleRefName, parseBundleRefName } from '../../src/replication/bundle-ref-name.ts';
import { nextLink } from '../../src/replication/client/link-header.ts';
import { normalizeRepository, registryBaseUrl } from '../../src/replication/client/registry-host.ts';
import { parseRetryAfter, retryDelayMs, retryPolicy } from '../../src/replication/client/retry-policy.ts';
import { coversScopes, mergeScopes } from '../../src/replication/client/scope.ts';
import { parseImageReference } from '../../src/replication/image-reference.ts';
import { parsePlatform, platformMatches, selectPlatforms } from '../../src/replication/platform-filter.ts';
import { parseRepositorySelector } from '../../src/replication/sync-items.ts';
import { tagFilter } from '../../src/replication/tag-filter.ts';
import { TransportError } from '../../src/replication/transport-error.ts';

const digest = `sha256:${'a'.repeat(64)}`;

describe('transport references', () => {
  it('parses docker:// references with a registry, tag or digest, Docker Hub names normalised', () => {
    assert.deepEqual(parseImageReference('docker://registry.example.com:5000/team/app:1.4'), {
      transport: 'docker',
      registry: 'registry.example.com:5000',
      repository: 'team/app',
      tag: '1.4',
    });
    assert.deepEqual(parseImageReference(`docker://localhost/app@${digest}`), {
      transport: 'docker',
      registry: 'localhost',
      repository: 'app',
      digest,
    });
    assert.deepEqual(parseImageReference('docker://alpine'), {
      transport: 'docker',
      registry: 'docker.io',
      repository: 'library/alpine',
    });
    assert.deepEqual(parseImageReference('docker://docker.io/bitnami/redis:7'), {
      transport: 'docker',
      registry: 'docker.io',
      repository: 'bitnami/redis',
      tag: '7',
    });
  });

  it('takes a registry alone only where a repository is optional (sync)', () => {
    assert.deepEqual(parseImageReference('docker://127.0.0.1:5000', { repositoryOptional: true }), {
      transport: 'docker',
      registry: '127.0.0.1:5000',
      repository: '',
    });
    assert.throws(() => parseImageReference('docker://127.0.0.1:5000'), /names a registry but no repository/);
    assert.deepEqual(parseImageReference('docker://alpine:3', { repositoryOptional: true }), {
      transport: 'docker',
      registry: 'docker.io',
      repository: 'library/alpine',
      tag: '3',
    });
  });

  it('splits a layout path at the first colon, so the name may hold colons', () => {
    assert.deepEqual(parseImageReference('oci-archive:/tmp/bundle.tar:team/app:v1'), {
      transport: 'oci-archive',
      path: '/tmp/bundle.tar',
      name: 'team/app:v1',
    });
    assert.deepEqual(parseImageReference('oci:./layout'), { transport: 'oci', path: './layout', name: '' });
  });

  it('refuses what is not a reference, with the forms it takes', () => {
    assert.throws(() => parseImageReference('registry.example.com/app'), /expected docker:\/\/REGISTRY\/REPOSITORY/);
    assert.throws(() => parseImageReference('docker://r.example.com/Team/App'), /invalid repository name "Team\/App"/);
    assert.throws(() => parseImageReference('docker://r.example.com/app:bad tag'), /invalid tag/);
    assert.throws(() => parseImageReference('docker://r.example.com/app@sha256:12'), /invalid digest/);
    assert.throws(() => parseImageReference('oci:'), /needs a path/);
  });

  it('names bundle images repository:tag or repository@digest and reads them back', () => {
    assert.equal(bundleRefName('team/app', 'v1'), 'team/app:v1');
    assert.equal(bundleRefName('team/app', digest), `team/app@${digest}`);
    assert.deepEqual(parseBundleRefName('team/app:v1'), { repository: 'team/app', reference: 'v1' });
    assert.deepEqual(parseBundleRefName(`team/app@${digest}`), { repository: 'team/app', reference: digest });
    assert.deepEqual(parseBundleRefName('latest'), { repository: undefined, reference: 'latest' });
    assert.deepEqual(parseBundleRefName('registry.example.com:5000/team/app:v1'), {
      repository: 'team/app',
      reference: 'v1',
    });
    assert.equal(parseBundleRefName('team/app'), undefined);
    assert.equal(parseBundleRefName('Team/App:v1'), undefined);
  });

  it('reads export selectors: a repository, a tag, a digest', () => {
    assert.deepEqual(parseRepositorySelector('team/app'), { repository: 'team/app' });
    assert.deepEqual(parseRepositorySelector('team/app:1.4'), { repository: 'team/app', reference: '1.4' });
    assert.deepEqual(parseRepositorySelector(`team/app@${digest}`), { repository: 'team/app', reference: digest });
    assert.throws(() => parseRepositorySelector('team/app@v1'), /is not REPOSITORY\[:TAG\|@DIGEST\]/);
    assert.throws(() => parseRepositorySelector('Team'), TransportError);
  });

  it('normalises Docker Hub names and base URLs', () => {
    assert.equal(normalizeRepository('docker.io', 'alpine'), 'library/alpine');
    assert.equal(normalizeRepository('index.docker.io', 'team/app'), 'team/app');
    assert.equal(normalizeRepository('registry.example.com', 'alpine'), 'alpine');
    assert.equal(registryBaseUrl('docker.io').href, 'https://registry-1.docker.io/');
    assert.equal(registryBaseUrl('http://127.0.0.1:5000/').href, 'http://127.0.0.1:5000/');
    assert.equal(registryBaseUrl('https://example.com/prefix/').href, 'https://example.com/prefix');
  });
});

describe('sync filters', () => {
  it('matches tags by glob or /regular expression/, any pattern taking a tag', () => {
    const take = tagFilter(['1.*', '/^v\\d+$/']);
    assert.deepEqual(['1.0', '1.10', '10.0', 'v2', 'v2-rc', 'latest'].filter(take), ['1.0', '1.10', 'v2']);
    assert.equal(tagFilter(['v?'])('v1'), true);
    assert.equal(tagFilter(['v?'])('v10'), false);
    assert.equal(tagFilter([])('anything'), true);
    assert.throws(() => tagFilter(['/(/']), /invalid tag expression/);
  });

  it('parses and matches platforms; arm64 is v8 whether said or not', () => {
    assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.throws(() => parsePlatform('linux'), /expected OS\/ARCH\[\/VARIANT\]/);
    assert.equal(
      platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      true,
    );
    assert.equal(
      platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm' }),
      true,
    );
    assert.equal(
      platformMatches(
        { os: 'linux', architecture: 'arm', variant: 'v6' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ),
      false,
    );
    assert.equal(platformMatches(undefined, { os: 'linux', architecture: 'amd64' }), false);
  });

  it('keeps the attestation manifests of the platforms kept', () => {
    const amd = {
      mediaType: 'm',
      digest: `sha256:${'1'.repeat(64)}`,
      size: 1,
      platform: { os: 'linux', architecture: 'amd64' },
    };
    const arm = {
      mediaType: 'm',
      digest: `sha256:${'2'.repeat(64)}`,
      size: 1,
      platform: { os: 'linux', architecture: 'arm64' },
    };
    const attestation = (of: typeof amd, n: string) => ({
      mediaType: 'm',
      digest: `sha256:${n.repeat(64)}`,
      size: 1,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.digest': of.digest, 'vnd.docker.reference.type': 'attestation-manifest' },
    });
    const entries = [amd, arm, attestation(amd, '3'), attestation(arm, '4')] as unknown as Descriptor[];
    assert.deepEqual(
      selectPlatforms(entries, [{ os: 'linux', architecture: 'arm64' }]).map((entry) => entry.digest),
      [arm.digest, `sha256:${'4'.repeat(64)}`],
    );
  });
});

describe('client details', () => {
  it('merges token scopes per resource and knows when a token covers a request', () => {
    assert.deepEqual(mergeScopes(['repository:a:pull'], ['repository:a:push repository:b:pull']), [
      'repository:a:pull,push',
      'repository:b:pull',
    ]);
    assert.equal(coversScopes(['repository:a:pull,push'], ['repository:a:pull']), true);
    assert.equal(coversScopes(['repository:a:pull'], ['repository:a:pull,push']), false);
    assert.equal(coversScopes(['registry:catalog:*'], ['registry:catalog:*']), true);
    assert.equal(coversScopes(['repository:a:*'], ['repository:a:delete']), true);
    assert.equal(coversScopes([], []), true);
  });

  it('follows rel="next" of a Link header, relative to the answer', () => {
    const base = new URL('https://r.example.com/v2/team/app/tags/list?n=2');
    assert.equal(
      nextLink('</v2/team/app/tags/list?n=2&last=v2>; rel="next"', base)?.href,
      'https://r.example.com/v2/team/app/tags/list?n=2&last=v2',
    );
    assert.equal(
      nextLink(['<https://x.example/a>; rel=prev, <https://x.example/b>; rel=next'], base)?.href,
      'https://x.example/b',
    );
    assert.equal(nextLink('<https://x.example/a>; rel="prev"', base), undefined);
    assert.equal(nextLink(undefined, base), undefined);
  });

  it('reads Retry-After as seconds or a date, and backs off exponentially within bounds', () => {
    assert.equal(parseRetryAfter('7'), 7000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 10_000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
    const policy = retryPolicy({ initialDelayMs: 100, maxDelayMs: 1000 });
    for (let retry = 1; retry <= 8; retry += 1) {
      const ceiling = Math.min(1000, 100 * 2 ** (retry - 1));
      const delay = retryDelayMs(retry, policy);
      assert.ok(
        delay >= ceiling / 2 && delay <= ceiling,
        `retry ${retry}: ${delay} not in [${ceiling / 2}, ${ceiling}]`,
      );
    }
    assert.equal(retryDelayMs(1, policy, 2500), 2500);
  });
});
