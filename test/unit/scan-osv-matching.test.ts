import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchPackages } from '../../src/scan/matcher.ts';
import { rangesOfOsvRecord } from '../../src/scan/osv-record.ts';
import type { InstalledPackage } from '../../src/scan/package-databases.ts';
import { cvss3BaseScore } from '../../src/scan/severity.ts';

const openssl = (version: string): InstalledPackage => ({
  ecosystem: 'Debian:12',
  name: 'libssl3',
  version,
  sourceName: 'openssl',
  sourceVersion: version,
  type: 'deb',
});

const record = {
  schema_version: '1.6.0',
  id: 'DSA-5532-1',
  aliases: ['CVE-2023-5363'],
  summary: 'openssl - security update',
  affected: [
    {
      package: { ecosystem: 'Debian:12', name: 'openssl' },
      ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }] }],
    },
  ],
  severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' }],
};

describe('OSV records and matching', () => {
  it('turns ECOSYSTEM events into ranges, with the CVSS v3 severity', () => {
    const { id, ranges } = rangesOfOsvRecord(record);
    assert.equal(id, 'DSA-5532-1');
    assert.equal(ranges.length, 1);
    assert.deepEqual(
      { introduced: ranges[0]?.introduced, fixed: ranges[0]?.fixed, severity: ranges[0]?.severity },
      { introduced: '0', fixed: '3.0.11-1~deb12u2', severity: 'HIGH' },
    );
  });

  it('computes CVSS v3 base scores as the specification does', () => {
    assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'), 9.8);
    assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N'), 7.5);
    assert.equal(cvss3BaseScore('CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N'), 6.4);
    assert.equal(cvss3BaseScore('CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N'), 0);
  });

  it('matches by source package and dpkg order: affected below the fix, not at or above it', () => {
    const { ranges } = rangesOfOsvRecord(record);
    const found = matchPackages([openssl('3.0.11-1~deb12u1')], ranges);
    assert.deepEqual(
      found.map((finding) => [finding.id, finding.package, finding.installedVersion, finding.fixedVersion]),
      [['DSA-5532-1', 'libssl3', '3.0.11-1~deb12u1', '3.0.11-1~deb12u2']],
    );
    assert.deepEqual(matchPackages([openssl('3.0.11-1~deb12u2')], ranges), []);
    assert.deepEqual(matchPackages([openssl('3.0.13-1~deb12u1')], ranges), []);
    assert.deepEqual(matchPackages([{ ...openssl('3.0.11-1~deb12u1'), ecosystem: 'Debian:11' }], ranges), []);
  });

  it('reads last_affected, explicit versions, database_specific severity and withdrawn records', () => {
    const apk = rangesOfOsvRecord({
      id: 'ALPINE-CVE-2024-0001',
      database_specific: { severity: 'Moderate' },
      affected: [
        {
          package: { ecosystem: 'Alpine:v3.20', name: 'busybox' },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '1.36.0-r0' }, { last_affected: '1.36.1-r29' }] }],
          versions: ['1.35.0-r1'],
        },
      ],
    });
    const busybox = (version: string): InstalledPackage => ({
      ecosystem: 'Alpine:v3.20',
      name: 'busybox',
      version,
      sourceName: 'busybox',
      sourceVersion: version,
      type: 'apk',
    });
    assert.equal(apk.ranges[0]?.severity, 'MEDIUM');
    assert.equal(matchPackages([busybox('1.36.1-r29')], apk.ranges).length, 1);
    assert.equal(matchPackages([busybox('1.36.1-r30')], apk.ranges).length, 0);
    assert.equal(matchPackages([busybox('1.35.0-r1')], apk.ranges).length, 1);
    assert.equal(matchPackages([busybox('1.35.0-r2')], apk.ranges).length, 0);
    assert.deepEqual(rangesOfOsvRecord({ ...record, withdrawn: '2024-01-01T00:00:00Z' }).ranges, []);
  });
});
