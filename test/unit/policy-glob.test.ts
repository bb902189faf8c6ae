import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob, globProblem } from '../../src/policy/glob.ts';
import { compileSelector, describeSelector, nameInProject } from '../../src/policy/selector.ts';

const matches = (pattern: string, value: string) => compileGlob(pattern).test(value);

describe('doublestar globs', () => {
  it('reads * within a path component and ** across components', () => {
    assert.equal(matches('*', 'app'), true);
    assert.equal(matches('*', 'app/api'), false);
    assert.equal(matches('**', 'app/api/v2'), true);
    assert.equal(matches('**', ''), true);
    assert.equal(matches('app/*', 'app/api'), true);
    assert.equal(matches('app/*', 'app/api/v2'), false);
    assert.equal(matches('app/**', 'app/api/v2'), true);
    assert.equal(matches('app/**/db', 'app/db'), true);
    assert.equal(matches('app/**/db', 'app/x/y/db'), true);
    assert.equal(matches('v*', 'v1.2.3'), true);
    assert.equal(matches('v*', 'latest'), false);
  });

  it('reads ?, alternatives, classes and escapes', () => {
    assert.equal(matches('v?', 'v1'), true);
    assert.equal(matches('v?', 'v10'), false);
    assert.equal(matches('{latest,stable}', 'stable'), true);
    assert.equal(matches('{latest,stable}', 'edge'), false);
    assert.equal(matches('release-{1,2}.{x,y}', 'release-2.y'), true);
    assert.equal(matches('[0-9]*', '1.0'), true);
    assert.equal(matches('[0-9]*', 'v1.0'), false);
    assert.equal(matches('[!0-9]*', 'v1.0'), true);
    assert.equal(matches('a\\*b', 'a*b'), true);
    assert.equal(matches('a\\*b', 'axb'), false);
    assert.equal(matches('1.0', '1x0'), false, 'a dot is a dot');
    assert.equal(matches('a+b(c)', 'a+b(c)'), true, 'regular expression characters are literal');
  });

  it('is anchored at both ends', () => {
    assert.equal(matches('v1', 'v1-rc'), false);
    assert.equal(matches('rc', 'v1-rc'), false);
  });

  it('names what is wrong with a malformed pattern', () => {
    assert.equal(globProblem('{a,b'), 'invalid pattern: "{" is never closed');
    assert.equal(globProblem('a}'), 'invalid pattern: "}" at 2 closes no "{"');
    assert.equal(globProblem('[abc'), 'invalid pattern: "[" at 1 is never closed');
    assert.equal(globProblem('abc\\'), 'invalid pattern: ends with "\\"');
    assert.equal(globProblem('x'.repeat(257)), 'invalid pattern: longer than 256 characters');
    assert.equal(globProblem('**/v{1,2}.[0-9]*'), undefined);
  });
});

describe('selectors', () => {
  it('match, or exclude, what the glob matches', () => {
    assert.equal(compileSelector({ pattern: 'v*', decoration: 'matches' })('v1'), true);
    assert.equal(compileSelector({ pattern: 'v*', decoration: 'excludes' })('v1'), false);
    assert.equal(compileSelector({ pattern: 'v*', decoration: 'excludes' })('latest'), true);
    assert.equal(describeSelector('tags', { pattern: 'v*', decoration: 'excludes' }), 'tags not matching "v*"');
  });

  it('see repository names without their project', () => {
    assert.equal(nameInProject('team/app/api'), 'app/api');
    assert.equal(nameInProject('team/app'), 'app');
    assert.equal(nameInProject('app'), 'app');
  });
});
