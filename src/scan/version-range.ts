import { compareApkVersions } from './apk-version.ts';
import { compareDpkgVersions } from './dpkg-version.ts';
import type { InstalledPackage } from './package-databases.ts';

export type VersionComparator = (a: string, b: string) => number;

/** The ordering of an OSV ecosystem's versions (`Debian:12` and `Ubuntu:*` → dpkg, `Alpine:*` → apk). */
export function comparatorOf(ecosystem: string): VersionComparator | undefined {
  const family = ecosystem.split(':')[0];
  if (family === 'Debian' || family === 'Ubuntu') return compareDpkgVersions;
  if (family === 'Alpine') return compareApkVersions;
  return undefined;
}

export interface VersionRange {
  introduced: string;
  fixed: string | undefined;
  lastAffected: string | undefined;
}

/** Whether `version` lies in the range: at or after introduced (`0` is the start), before fixed, up to last_affected. */
export function inRange(version: string, range: VersionRange, compare: VersionComparator): boolean {
  if (range.introduced !== '0' && compare(version, range.introduced) < 0) return false;
  if (range.fixed !== undefined && compare(version, range.fixed) >= 0) return false;
  if (range.lastAffected !== undefined && compare(version, range.lastAffected) > 0) return false;
  return true;
}

/** The version advisories of a package compare against: the source package's, as the advisories name it. */
export function matchedVersion(pkg: InstalledPackage): string {
  return pkg.sourceVersion;
}
