import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../src/oci/errors.ts';
import { isRepositoryName, isTag, parseRepositoryName, parseTag } from '../../src/oci/reference.ts';

describe('repository names', () => {
  for (const good of [
    'a',
    'library/ubuntu',
    'a-b/c_d/e.f',
    'a__b',
    'a---b',
    'x/y/z/w/v',
    '0',
    'my.registry/team/app',
  ]) {
    it(`accepts ${good}`, () => assert.equal(isRepositoryName(good), true));
  }
  for (const bad of [
    '',
    'Upper',
    'a/',
    '/a',
    'a//b',
    'a/../b',
    '..',
    'a_',
    '-a',
    'a___b',
    'a.-b',
    'a b',
    'a%2fb',
    'a'.repeat(256),
  ]) {
    it(`rejects ${JSON.stringify(bad.slice(0, 40))} as NAME_INVALID`, () => {
      assert.equal(isRepositoryName(bad), false);
      assert.throws(
        () => parseRepositoryName(bad),
        (error: unknown) => error instanceof RegistryError && error.code === 'NAME_INVALID',
      );
    });
  }
  it('accepts exactly 255 characters', () => assert.equal(isRepositoryName('a'.repeat(255)), true));
});

describe('tags', () => {
  for (const good of ['latest', 'v1.2.3', '_x', 'A-b_c.d', 'a'.repeat(128)]) {
    it(`accepts ${good.slice(0, 20)}`, () => assert.equal(isTag(good), true));
  }
  for (const bad of ['', '.x', '-x', 'a'.repeat(129), 'a/b', 'a:b', 'sha256:abc']) {
    it(`rejects ${JSON.stringify(bad.slice(0, 20))}`, () => {
      assert.equal(isTag(bad), false);
      assert.throws(() => parseTag(bad), RegistryError);
    });
  }
});
