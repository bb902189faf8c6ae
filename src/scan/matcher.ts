import type { InstalledPackage } from './package-databases.ts';
import { type Severity, severityRank } from './severity.ts';
import { comparatorOf, inRange } from './version-range.ts';
import type { StoredRange, VulnerabilityDb } from './vulnerability-db.ts';

/** One vulnerability of one installed package. */
export interface Finding {
  id: string;
  severity: Severity;
  package: string;
  /** The source package the advisory names, when it is not the package itself. */
  sourcePackage: string;
  installedVersion: string;
  /** The first version without it; undefined while there is no fix. */
  fixedVersion: string | undefined;
  ecosystem: string;
  summary: string;
}

/** Matches packages against ranges (pure): by source name and source version, else by binary name and version. */
export function matchPackages(packages: readonly InstalledPackage[], ranges: readonly StoredRange[]): Finding[] {
  const byPackage = new Map<string, StoredRange[]>();
  for (const range of ranges) {
    const key = `${range.ecosystem}\u0000${range.packageName}`;
    const list = byPackage.get(key) ?? [];
    list.push(range);
    byPackage.set(key, list);
  }
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const pkg of packages) {
    const compare = comparatorOf(pkg.ecosystem);
    if (!compare) continue;
    const candidates: Array<[string, string]> = [[pkg.sourceName, pkg.sourceVersion]];
    if (pkg.sourceName !== pkg.name) candidates.push([pkg.name, pkg.version]);
    for (const [name, version] of candidates) {
      for (const range of byPackage.get(`${pkg.ecosystem}\u0000${name}`) ?? []) {
        if (!inRange(version, range, compare)) continue;
        const key = `${range.advisoryId}\u0000${pkg.name}`;
        if (seen.has(key)) continue;
        seen.add(key);
        findings.push({
          id: range.advisoryId,
          severity: range.severity,
          package: pkg.name,
          sourcePackage: name,
          installedVersion: pkg.version,
          fixedVersion: range.fixed,
          ecosystem: pkg.ecosystem,
          summary: range.summary,
        });
      }
    }
  }
  return findings.sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      a.id.localeCompare(b.id) ||
      a.package.localeCompare(b.package),
  );
}

/** Reads the ranges the packages could match from the database, then matches. */
export async function findVulnerabilities(
  db: VulnerabilityDb,
  packages: readonly InstalledPackage[],
): Promise<Finding[]> {
  const namesByEcosystem = new Map<string, string[]>();
  for (const pkg of packages) {
    const names = namesByEcosystem.get(pkg.ecosystem) ?? [];
    names.push(pkg.sourceName, pkg.name);
    namesByEcosystem.set(pkg.ecosystem, names);
  }
  const ranges: StoredRange[] = [];
  for (const [ecosystem, names] of namesByEcosystem) ranges.push(...(await db.rangesFor(ecosystem, names)));
  return matchPackages(packages, ranges);
}
