import type { Finding } from './matcher.ts';
import type { InstalledPackage, OperatingSystem } from './package-databases.ts';
import { type Severity, severities, severityRank } from './severity.ts';

/**
 * What a scan found for one manifest. `unsupported` is an artifact that is not a container image
 * (a signature, an SBOM, a Helm chart) and has nothing to scan; `failed` says why in `error`.
 */
export interface ScanReport {
  digest: string;
  repository: string;
  status: 'scanned' | 'unsupported' | 'failed';
  /** The vulnerability database version the findings were computed against. */
  dbVersion: string;
  scannedAt: number;
  os: OperatingSystem | undefined;
  packages: InstalledPackage[];
  findings: Finding[];
  error?: string;
}

export function worstSeverity(findings: readonly Finding[]): Severity {
  let worst: Severity = 'UNKNOWN';
  for (const finding of findings) if (severityRank(finding.severity) > severityRank(worst)) worst = finding.severity;
  return worst;
}

export function countsBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const counts = Object.fromEntries(severities.map((severity) => [severity, 0])) as Record<Severity, number>;
  for (const finding of findings) counts[finding.severity]++;
  return counts;
}
