import { z } from 'zod';
import { isRobot } from '../../auth/projects/principal-kind.ts';
import { repositoryActionsOf } from '../../auth/projects/roles.ts';
import type { MetadataStore } from '../../metadata/metadata-store.ts';
import type { ProjectStore } from '../../metadata/project-store.ts';
import { parseDigest } from '../../oci/digest.ts';
import { RegistryError } from '../../oci/errors.ts';
import { parseRepositoryName, parseTag } from '../../oci/reference.ts';
import type {
  ProjectVulnerabilityPolicy,
  VulnerabilityPolicyStore,
} from '../../policy/vulnerabilities/vulnerability-policy-store.ts';
import { cycloneDxOf } from '../../scan/cyclonedx.ts';
import { countsBySeverity, type ScanReport, worstSeverity } from '../../scan/scan-report.ts';
import type { ScanReportStore } from '../../scan/scan-report-store.ts';
import { severities } from '../../scan/severity.ts';
import type { VulnerabilityDb } from '../../scan/vulnerability-db.ts';
import { forbidden, notFound } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageQuerySchema, timestamp, timestampSchema } from './common-schemas.ts';
import { requireProjectAdmin } from './lifecycle-access.ts';
import { ProjectAccess } from './project-access.ts';
import { projectPathSchema } from './project-schemas.ts';
import { repositoryPathSchema } from './repository-schemas.ts';

const tag = 'scanning';
const severitySchema = z.enum(severities);
const artifactPathSchema = repositoryPathSchema.extend({ reference: z.string().min(1).max(200) });

const findingSchema = z.object({
  id: z.string(),
  severity: severitySchema,
  package: z.string(),
  source_package: z.string(),
  installed_version: z.string(),
  fixed_version: z.string().nullable(),
  ecosystem: z.string(),
  summary: z.string(),
});

const reportSchema = z.object({
  digest: z.string(),
  repository: z.string(),
  status: z.enum(['scanned', 'unsupported', 'failed']),
  error: z.string().nullable(),
  db_version: z.string().describe('the vulnerability database version the findings were computed against'),
  scanned_at: timestampSchema,
  os: z.string().nullable(),
  worst_severity: severitySchema,
  summary: z.record(z.string(), z.number().int()).describe('findings per severity'),
  packages: z.array(z.object({ ecosystem: z.string(), name: z.string(), version: z.string(), source: z.string() })),
  findings: z.array(findingSchema),
});

const listingSchema = z.object({
  digest: z.string(),
  repository: z.string(),
  worst_severity: severitySchema,
  finding_count: z.number().int(),
  scanned_at: timestampSchema,
});

const policySchema = z.object({
  block_severity: severitySchema.nullable().describe('refuse pulls of images with findings at or above this severity'),
  block_unscanned: z.boolean().describe('refuse pulls of images not scanned yet'),
  updated_at: timestampSchema.nullable(),
  updated_by: z.string().nullable(),
});

const policyInputSchema = z.strictObject({
  block_severity: z.enum(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']).nullable(),
  block_unscanned: z.boolean().default(false),
});

const databaseSchema = z.object({
  version: z.string().nullable(),
  imported_at: timestampSchema.nullable(),
  advisories: z.number().int(),
  ranges: z.number().int(),
  ecosystems: z.array(z.object({ ecosystem: z.string(), ranges: z.number().int() })),
});

export interface ScanRouteDependencies {
  projects: ProjectStore;
  metadata: MetadataStore;
  reports: ScanReportStore;
  policies: VulnerabilityPolicyStore;
  vulnerabilities: VulnerabilityDb;
  /** Wakes the scan worker after a scan is queued. */
  queued(): void;
}

/** Scan reports, scans on request, per-project vulnerability gates and the database's state (docs/scanning.md). */
export function scanRoutes(deps: ScanRouteDependencies): ApiRoute[] {
  const access = new ProjectAccess(deps.projects, (message) => new RegistryError('UNAUTHORIZED', message));
  const resolve = async (project: string, relative: string, reference: string) => {
    const repository = parseRepositoryName(`${project}/${relative}`);
    const manifest = reference.includes(':')
      ? await deps.metadata.findManifestByDigest(repository, parseDigest(reference))
      : await deps.metadata.findManifestByTag(repository, parseTag(reference));
    if (!manifest) throw new RegistryError('MANIFEST_UNKNOWN', `${repository}:${reference} does not exist`);
    return { repository, digest: manifest.digest };
  };
  return [
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/repositories/{repository}/artifacts/{reference}/vulnerabilities',
      operationId: 'getScanReport',
      summary: "An artifact's scan report: its packages and vulnerabilities",
      tag,
      anonymous: true,
      params: artifactPathSchema,
      responses: [{ status: 200, description: 'the report', schema: reportSchema }],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        const { repository, digest } = await resolve(params.name, params.repository, params.reference);
        const report = await deps.reports.get(digest);
        if (!report) throw notFound(`${repository}@${digest} has not been scanned yet`);
        return { status: 200, body: reportBody(report) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/repositories/{repository}/artifacts/{reference}/sbom',
      operationId: 'getArtifactSbom',
      summary: "An artifact's packages and vulnerabilities as a CycloneDX 1.5 JSON document",
      tag,
      anonymous: true,
      params: artifactPathSchema,
      responses: [{ status: 200, description: 'the CycloneDX document', schema: z.record(z.string(), z.unknown()) }],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        const { repository, digest } = await resolve(params.name, params.repository, params.reference);
        const report = await deps.reports.get(digest);
        if (report?.status !== 'scanned') throw notFound(`${repository}@${digest} has no scanned packages`);
        return { status: 200, body: cycloneDxOf(report, repository) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects/{name}/repositories/{repository}/artifacts/{reference}/scan',
      operationId: 'scanArtifact',
      summary: 'Queue a scan of an artifact (whoever may push)',
      tag,
      anonymous: false,
      params: artifactPathSchema,
      responses: [{ status: 202, description: 'queued; the report follows at .../vulnerabilities' }],
      async handler({ principal, params }) {
        const view = await access.view(principal, params.name);
        const mayPush =
          principal.admin ||
          (!isRobot(principal) && view.role !== undefined && repositoryActionsOf(view.role).includes('push'));
        if (!mayPush) throw forbidden(`you may not scan artifacts of project ${params.name}`);
        const { repository, digest } = await resolve(params.name, params.repository, params.reference);
        await deps.reports.enqueue(repository, digest);
        deps.queued();
        return { status: 202 };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/vulnerabilities',
      operationId: 'listVulnerableArtifacts',
      summary: "The project's scanned artifacts whose worst finding is at least a severity, worst first",
      tag,
      anonymous: true,
      params: projectPathSchema,
      query: pageQuerySchema.extend({ severity: severitySchema.default('HIGH') }),
      responses: [{ status: 200, description: 'a page of reports', schema: z.array(listingSchema) }],
      async handler({ principal, params, query }) {
        await access.view(principal, params.name);
        const listed = await deps.reports.list({
          minimum: query.severity,
          prefix: `${params.name}/`,
          limit: query.page_size,
          offset: (query.page - 1) * query.page_size,
        });
        return {
          status: 200,
          body: listed.map((item) => ({
            digest: item.digest,
            repository: item.repository,
            worst_severity: item.worstSeverity,
            finding_count: item.findingCount,
            scanned_at: timestamp(item.scannedAt),
          })),
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/vulnerability-policy',
      operationId: 'getVulnerabilityPolicy',
      summary: "The project's vulnerability gate",
      tag,
      anonymous: true,
      params: projectPathSchema,
      responses: [{ status: 200, description: 'the policy (off when never set)', schema: policySchema }],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        return { status: 200, body: policyBody(await deps.policies.get(params.name)) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/projects/{name}/vulnerability-policy',
      operationId: 'setVulnerabilityPolicy',
      summary: "Replace the project's vulnerability gate (project admins)",
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: policyInputSchema,
      responses: [{ status: 200, description: 'the policy now in force', schema: policySchema }],
      async handler({ principal, params, body }) {
        const view = await requireProjectAdmin(access, principal, params.name, 'set the vulnerability policy');
        const policy = await deps.policies.set(
          view.project.id,
          params.name,
          { blockSeverity: body.block_severity ?? undefined, blockUnscanned: body.block_unscanned },
          principal.name,
        );
        return { status: 200, body: policyBody(policy) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/scan/database',
      operationId: 'getVulnerabilityDatabase',
      summary: "The vulnerability database's version and contents",
      tag,
      anonymous: false,
      responses: [{ status: 200, description: 'its state', schema: databaseSchema }],
      async handler() {
        const status = await deps.vulnerabilities.status();
        return {
          status: 200,
          body: {
            version: status.version ?? null,
            imported_at: status.importedAt === undefined ? null : timestamp(status.importedAt),
            advisories: status.advisories,
            ranges: status.ranges,
            ecosystems: status.ecosystems,
          },
        };
      },
    }),
  ];
}

function reportBody(report: ScanReport): z.output<typeof reportSchema> {
  return {
    digest: report.digest,
    repository: report.repository,
    status: report.status,
    error: report.error ?? null,
    db_version: report.dbVersion,
    scanned_at: timestamp(report.scannedAt),
    os: report.os ? (report.os.prettyName ?? `${report.os.id} ${report.os.versionId}`) : null,
    worst_severity: worstSeverity(report.findings),
    summary: countsBySeverity(report.findings),
    packages: report.packages.map((pkg) => ({
      ecosystem: pkg.ecosystem,
      name: pkg.name,
      version: pkg.version,
      source: pkg.sourceName,
    })),
    findings: report.findings.map((finding) => ({
      id: finding.id,
      severity: finding.severity,
      package: finding.package,
      source_package: finding.sourcePackage,
      installed_version: finding.installedVersion,
      fixed_version: finding.fixedVersion ?? null,
      ecosystem: finding.ecosystem,
      summary: finding.summary,
    })),
  };
}

function policyBody(policy: ProjectVulnerabilityPolicy): z.output<typeof policySchema> {
  return {
    block_severity: policy.blockSeverity ?? null,
    block_unscanned: policy.blockUnscanned,
    updated_at: policy.updatedAt === undefined ? null : timestamp(policy.updatedAt),
    updated_by: policy.updatedBy,
  };
}
