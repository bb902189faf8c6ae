import type { InstalledPackage } from './package-databases.ts';
import type { ScanReport } from './scan-report.ts';

/** The package URL of an installed package (purl spec: `pkg:deb/debian/…`, `pkg:apk/alpine/…`). */
export function purlOf(pkg: InstalledPackage, report: ScanReport): string {
  const os = report.os;
  const namespace = os?.id ?? (pkg.type === 'deb' ? 'debian' : 'alpine');
  const distro = os ? `?distro=${encodeURIComponent(`${os.id}-${os.versionId}`)}` : '';
  return `pkg:${pkg.type}/${encodeURIComponent(namespace)}/${encodeURIComponent(pkg.name)}@${encodeURIComponent(pkg.version)}${distro}`;
}

/** A scan report's packages and findings as a CycloneDX 1.5 JSON SBOM with its vulnerabilities. */
export function cycloneDxOf(report: ScanReport, imageName: string): Record<string, unknown> {
  const refs = new Map<string, string>();
  const components = report.packages.map((pkg) => {
    const purl = purlOf(pkg, report);
    refs.set(`${pkg.name}\u0000${pkg.version}`, purl);
    return {
      type: 'library',
      'bom-ref': purl,
      name: pkg.name,
      version: pkg.version,
      purl,
      ...(pkg.sourceName !== pkg.name ? { properties: [{ name: 'wharf:source-package', value: pkg.sourceName }] } : {}),
    };
  });
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    version: 1,
    metadata: {
      timestamp: new Date(report.scannedAt).toISOString(),
      tools: { components: [{ type: 'application', name: 'wharf' }] },
      component: { type: 'container', 'bom-ref': report.digest, name: imageName, version: report.digest },
    },
    components,
    vulnerabilities: report.findings.map((finding) => ({
      id: finding.id,
      ratings: [{ severity: finding.severity === 'NEGLIGIBLE' ? 'info' : finding.severity.toLowerCase() }],
      description: finding.summary,
      affects: [{ ref: refs.get(`${finding.package}\u0000${finding.installedVersion}`) ?? finding.package }],
      ...(finding.fixedVersion ? { recommendation: `upgrade to ${finding.fixedVersion}` } : {}),
    })),
  };
}
