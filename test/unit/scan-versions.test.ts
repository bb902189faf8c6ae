import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareApkVersions } from '../../src/scan/apk-version.ts';
import { compareDpkgVersions } from '../../src/scan/dpkg-version.ts';

/** From dpkg's t/Dpkg_Version.t table and Debian security versions; each checked with `dpkg --compare-versions`. */
const dpkgCases: Array<[string, string, number]> = [
  ['1.0', '1.0', 0],
  ['1.0', '2.0', -1],
  ['2.009', '2.9', 0],
  ['2.9', '2.10', -1],
  ['2.10', '2.9', 1],
  ['1.0~rc1', '1.0', -1],
  ['1.0', '1.0~', 1],
  ['1.0~~', '1.0~', -1],
  ['1.0~~a', '1.0~', -1],
  ['1.0~', '1.0~a', -1],
  ['1:1.0', '1.0', 1],
  ['0:1.0', '1.0', 0],
  ['1.0', '1:1.0', -1],
  ['1.0-1', '1.0-2', -1],
  ['1.2.3', '1.2.3', 0],
  ['4.4.3-2', '4.4.3-2', 0],
  ['1:2ab:5', '1:2ab:5', 0],
  ['7:1-a:b-5', '7:1-a:b-5', 0],
  ['57:1.2.3abYZ+~-4-5', '57:1.2.3abYZ+~-4-5', 0],
  ['1.2.3', '0:1.2.3', 0],
  ['1.2.3', '1.2.3-0', 0],
  ['009', '9', 0],
  ['99:3', '99:3', 0],
  ['1.2.3', '1:1.2.3', -1],
  ['4.4.3-2', '4.4.3-1', 1],
  ['1.2a+~bCd3', '1.2a++', -1],
  ['1.2a+~bCd3', '1.2a+~', 1],
  ['5:2', '304-2', 1],
  ['5:2', '304:2', -1],
  ['25:2', '3:2', 1],
  ['1:2:123', '1:12:3', -1],
  ['1.2-5', '1.2-3-5', -1],
  ['5.10.0', '5.005', 1],
  ['3a9.8', '3.10.2', -1],
  ['3.10.2', '3a9.8', 1],
  ['1.5~rc1', '1.5', -1],
  ['1.5~rc1', '1.5+b1', -1],
  ['1.5~rc1', '1.5~rc2', -1],
  ['1.5~rc1', '1.5~dev0', 1],
  ['1.0000-1', '1.0-1', 0],
  ['2.2~rc-4', '2.2-1', -1],
  ['1.1-20080727-1', '1.1-20080316-1', 1],
  ['3.0.11-1~deb12u2', '3.0.11-1~deb12u1', 1],
  ['3.0.11-1~deb12u2', '3.0.11-1', -1],
  ['1.0a', '1.0+', -1],
  ['1.0', '1.0a', -1],
  ['1.0-a', '1.0-A', 1],
];

/** apk-tools' ordering (test/version.data): suffixes, letters, revisions, leading-zero fractions. */
const apkCases: Array<[string, string, number]> = [
  ['2.34', '0.1.0_alpha', 1],
  ['0.1.0_alpha', '0.1.0_alpha', 0],
  ['0.1.0_alpha', '0.1.3_alpha', -1],
  ['0.1.0_alpha2', '0.1.0_alpha', 1],
  ['1.0_alpha', '1.0_beta', -1],
  ['1.0_beta', '1.0_pre', -1],
  ['1.0_pre1', '1.0_rc1', -1],
  ['1.0_rc1', '1.0', -1],
  ['1.0', '1.0_p1', -1],
  ['1.0_git20230101', '1.0_p1', -1],
  ['1.0', '1.0-r1', -1],
  ['1.0-r9', '1.0-r10', -1],
  ['1.2.3', '1.2.3a', -1],
  ['1.2.3a', '1.2.3b', -1],
  ['1.2.9', '1.2.10', -1],
  ['1.01', '1.1', -1],
  ['1.0', '1.0.1', -1],
  ['3.3.1-r0', '3.3.2-r0', -1],
  ['3.3.2-r0', '3.3.2-r0', 0],
  ['1.36.1-r29', '1.36.1-r30', -1],
];

describe('dpkg version comparison', () => {
  for (const [a, b, expected] of dpkgCases) {
    it(`${a} ${expected < 0 ? '<' : expected > 0 ? '>' : '='} ${b}`, () => {
      assert.equal(compareDpkgVersions(a, b), expected);
      assert.equal(compareDpkgVersions(b, a), -expected || 0);
    });
  }
});

describe('apk version comparison', () => {
  for (const [a, b, expected] of apkCases) {
    it(`${a} ${expected < 0 ? '<' : expected > 0 ? '>' : '='} ${b}`, () => {
      assert.equal(compareApkVersions(a, b), expected);
      assert.equal(compareApkVersions(b, a), -expected || 0);
    });
  }
});
