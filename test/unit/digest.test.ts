import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf, isDigest, parseDigest } from '../../src/oci/digest.ts';
import { RegistryError } from '../../src/oci/errors.ts';

const empty256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('digests', () => {
  it('accepts sha256 and sha512 in canonical form', () => {
    assert.equal(parseDigest(empty256), empty256);
    const sha512 = digestOf(Buffer.alloc(0), 'sha512');
    assert.match(sha512, /^sha512:[a-f0-9]{128}$/);
    assert.equal(parseDigest(sha512), sha512);
  });

  it('computes the digest of bytes', () => {
    assert.equal(digestOf(Buffer.alloc(0)), empty256);
  });

  for (const bad of [
    'sha256:totallywrong',
    'sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855',
    'sha256:e3b0',
    'md5:d41d8cd98f00b204e9800998ecf8427e',
    'sha256:../../../etc/passwd',
    'sha256',
    ':abc',
    '',
    `sha256:${'a'.repeat(65)}`,
  ]) {
    it(`rejects ${JSON.stringify(bad)} as DIGEST_INVALID`, () => {
      assert.equal(isDigest(bad), false);
      assert.throws(
        () => parseDigest(bad),
        (error: unknown) => error instanceof RegistryError && error.code === 'DIGEST_INVALID' && error.status === 400,
      );
    });
  }
});
