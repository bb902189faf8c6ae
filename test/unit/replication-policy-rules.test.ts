import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ArtifactSelector } from '../../src/replication/policies/artifact-filter.ts';
import { BandwidthLimiter } from '../../src/replication/policies/bandwidth-limiter.ts';
import { normalizeEndpointUrl } from '../../src/replication/policies/endpoint-url.ts';
import { compileGlob } from '../../src/replication/policies/glob.ts';
import { destinationRepository } from '../../src/replication/policies/namespace-rewrite.ts';
import { SecretBox, SecretUnreadableError } from '../../src/replication/policies/secret-box.ts';

describe('replication filter globs', () => {
  const cases: [string, string, boolean][] = [
    ['library/*', 'library/nginx', true],
    ['library/*', 'library/a/b', false],
    ['library/**', 'library/a/b', true],
    ['library/**', 'library', false],
    ['**/nginx', 'nginx', true],
    ['**/nginx', 'a/b/nginx', true],
    ['v1.?', 'v1.2', true],
    ['v1.?', 'v1.23', false],
    ['{1.*,latest}', 'latest', true],
    ['{1.*,latest}', '1.27', true],
    ['{1.*,latest}', '2.0', false],
    ['[0-9]*', '3.20', true],
    ['[!0-9]*', '3.20', false],
    ['a.b', 'axb', false],
    ['*', 'a/b', false],
    ['**', 'a/b', true],
  ];
  for (const [pattern, text, expected] of cases) {
    test(`${pattern} ${expected ? 'matches' : 'does not match'} ${text}`, () => {
      assert.equal(compileGlob(pattern).test(text), expected);
    });
  }

  test('an unbalanced brace is an error', () => {
    assert.throws(() => compileGlob('{a,b'), /unbalanced/);
  });
});

describe('artifact selector', () => {
  const selector = new ArtifactSelector([
    { type: 'name', value: 'library/**', decoration: 'matches' },
    { type: 'name', value: 'library/internal-*', decoration: 'excludes' },
    { type: 'tag', value: 'v*', decoration: 'matches' },
    { type: 'tag', value: '*-rc*', decoration: 'excludes' },
  ]);

  test('every matches filter must match and no excludes filter may', () => {
    assert.equal(selector.acceptsRepository('library/nginx'), true);
    assert.equal(selector.acceptsRepository('library/internal-tools'), false);
    assert.equal(selector.acceptsRepository('team/app'), false);
    assert.equal(selector.acceptsTag('v1.2'), true);
    assert.equal(selector.acceptsTag('v2-rc1'), false);
    assert.equal(selector.acceptsTag('latest'), false);
  });

  test('no filters select everything; a literal name is reported', () => {
    const all = new ArtifactSelector([]);
    assert.equal(all.acceptsRepository('anything/at/all'), true);
    assert.equal(all.acceptsTag('x'), true);
    assert.equal(all.literalRepository(), undefined);
    assert.equal(
      new ArtifactSelector([{ type: 'name', value: 'a/b', decoration: 'matches' }]).literalRepository(),
      'a/b',
    );
    assert.equal(selector.literalRepository(), undefined);
  });
});

describe('destination namespace', () => {
  test('replaces leading components as Harbor does', () => {
    assert.equal(destinationRepository('library/app/web', undefined, 1), 'library/app/web');
    assert.equal(destinationRepository('library/app/web', 'mirror', 0), 'mirror/library/app/web');
    assert.equal(destinationRepository('library/app/web', 'mirror', 1), 'mirror/app/web');
    assert.equal(destinationRepository('library/app/web', 'mirror', 2), 'mirror/web');
    assert.equal(destinationRepository('library/app/web', 'mirror', -1), 'mirror/web');
    assert.equal(destinationRepository('nginx', 'mirror', -1), 'mirror/nginx');
    assert.throws(() => destinationRepository('library/app', 'mirror', 2), /has 2/);
  });
});

describe('endpoint URLs', () => {
  test('are normalized and checked', () => {
    assert.equal(normalizeEndpointUrl('https://registry.example.com/'), 'https://registry.example.com');
    assert.equal(normalizeEndpointUrl('http://127.0.0.1:5000'), 'http://127.0.0.1:5000');
    assert.equal(normalizeEndpointUrl('https://example.com/prefix/'), 'https://example.com/prefix');
    assert.throws(() => normalizeEndpointUrl('registry.example.com'), /not a URL/);
    assert.throws(() => normalizeEndpointUrl('ftp://example.com'), /http/);
    assert.throws(() => normalizeEndpointUrl('https://user:pw@example.com'), /credentials/);
  });
});

describe('stored secrets', () => {
  test('round-trip under the same secret, with a fresh nonce each time', () => {
    const box = new SecretBox('http-secret-one');
    const sealed = box.seal('p4ssw0rd');
    assert.match(sealed, /^v1:/);
    assert.ok(!sealed.includes('p4ssw0rd'));
    assert.notEqual(box.seal('p4ssw0rd'), sealed);
    assert.equal(box.open(sealed), 'p4ssw0rd');
  });

  test('do not open under another secret, nor when tampered with', () => {
    const sealed = new SecretBox('http-secret-one').seal('p4ssw0rd');
    assert.throws(() => new SecretBox('http-secret-two').open(sealed), SecretUnreadableError);
    const bytes = Buffer.from(sealed.slice(3), 'base64');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    assert.throws(() => new SecretBox('http-secret-one').open(`v1:${bytes.toString('base64')}`), SecretUnreadableError);
    assert.throws(() => new SecretBox('x').open('plain text'), SecretUnreadableError);
  });
});

describe('bandwidth limiter', () => {
  test('holds a stream of chunks to the rate', async () => {
    const limiter = new BandwidthLimiter(400_000);
    const started = performance.now();
    for (let sent = 0; sent < 400_000; sent += 16_384) await limiter.take(16_384);
    const seconds = (performance.now() - started) / 1000;
    // 400 kB at 400 kB/s with a quarter-second burst allowance.
    assert.ok(seconds > 0.6 && seconds < 1.5, `took ${seconds.toFixed(2)} s`);
  });

  test('without a limit does not wait, and a waiting take can be aborted', async () => {
    const started = performance.now();
    await new BandwidthLimiter(0).take(10_000_000);
    assert.ok(performance.now() - started < 20);
    const slow = new BandwidthLimiter(1000);
    await slow.take(250);
    await assert.rejects(slow.take(10_000, AbortSignal.timeout(50)), { name: 'AbortError' });
  });
});
