import type { Readable } from 'node:stream';
import { imageManifestTypes, indexManifestTypes, MediaTypes } from '../oci/media-types.ts';
import { LayeredFiles, packagesOf } from './image-packages.ts';
import { LayerFormatError, layerCompression, readLayerFiles } from './layer-files.ts';
import { findVulnerabilities } from './matcher.ts';
import type { InstalledPackage } from './package-databases.ts';
import type { ScanReport } from './scan-report.ts';
import type { VulnerabilityDb } from './vulnerability-db.ts';

/** What a scan reads of the registry: manifests and blobs, through the registry's own service. */
export interface ImageReads {
  manifest(repository: string, digest: string): Promise<{ mediaType: string; payload: Buffer } | undefined>;
  blob(repository: string, digest: string): Promise<Readable>;
}

interface JsonDescriptor {
  mediaType?: unknown;
  digest?: unknown;
}

const imageConfigTypes = new Set<string>([MediaTypes.ociConfig, MediaTypes.dockerConfig]);

/** Scans one manifest: an image's layers in order, or an index's images (the union of their findings). */
export class ImageScanner {
  constructor(
    private readonly reads: ImageReads,
    private readonly db: VulnerabilityDb,
    /** A stored report, reused for an index's child already scanned against the same database. */
    private readonly stored: (digest: string) => Promise<ScanReport | undefined> = async () => undefined,
  ) {}

  async scan(repository: string, digest: string, now = Date.now()): Promise<ScanReport> {
    const dbVersion = (await this.db.version()) ?? 'none';
    const base = { digest, repository, dbVersion, scannedAt: now, os: undefined, packages: [], findings: [] };
    try {
      const manifest = await this.reads.manifest(repository, digest);
      if (!manifest) return { ...base, status: 'failed', error: `${repository}@${digest} is not in the registry` };
      const document = JSON.parse(manifest.payload.toString('utf8')) as Record<string, unknown>;
      const mediaType = typeof document.mediaType === 'string' ? document.mediaType : manifest.mediaType;
      if (indexManifestTypes.has(mediaType)) return await this.scanIndex(repository, document, base);
      if (!imageManifestTypes.has(mediaType)) return { ...base, status: 'unsupported' };
      const config = document.config as JsonDescriptor | undefined;
      if (typeof config?.mediaType !== 'string' || !imageConfigTypes.has(config.mediaType)) {
        return { ...base, status: 'unsupported' };
      }
      const files = new LayeredFiles();
      for (const layer of (Array.isArray(document.layers) ? document.layers : []) as JsonDescriptor[]) {
        if (typeof layer.digest !== 'string' || typeof layer.mediaType !== 'string') continue;
        const compression = layerCompression(layer.mediaType);
        if (!compression)
          throw new LayerFormatError(`layer ${layer.digest} is ${layer.mediaType}, which a scan cannot read`);
        files.apply(await readLayerFiles(await this.reads.blob(repository, layer.digest), compression));
      }
      const { os, packages } = packagesOf(files);
      const findings = await findVulnerabilities(this.db, packages);
      return { ...base, status: 'scanned', os, packages, findings };
    } catch (error) {
      return { ...base, status: 'failed', error: (error as Error).message };
    }
  }

  private async scanIndex(
    repository: string,
    index: Record<string, unknown>,
    base: Omit<ScanReport, 'status'>,
  ): Promise<ScanReport> {
    const children = ((Array.isArray(index.manifests) ? index.manifests : []) as JsonDescriptor[])
      .map((child) => child.digest)
      .filter((digest): digest is string => typeof digest === 'string');
    const packages = new Map<string, InstalledPackage>();
    const findings = new Map<string, ScanReport['findings'][number]>();
    let scanned = false;
    for (const child of children) {
      const known = await this.stored(child);
      const report =
        known && known.dbVersion === base.dbVersion && known.status !== 'failed'
          ? known
          : await this.scan(repository, child, base.scannedAt);
      if (report.status === 'failed') return { ...base, status: 'failed', error: `${child}: ${report.error}` };
      if (report.status !== 'scanned') continue;
      scanned = true;
      for (const pkg of report.packages) packages.set(`${pkg.ecosystem}/${pkg.name}/${pkg.version}`, pkg);
      for (const finding of report.findings)
        findings.set(`${finding.id}/${finding.package}/${finding.installedVersion}`, finding);
      base.os ??= report.os;
    }
    if (!scanned) return { ...base, status: 'unsupported' };
    return { ...base, status: 'scanned', packages: [...packages.values()], findings: [...findings.values()] };
  }
}
