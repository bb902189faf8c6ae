import type { Kysely } from 'kysely';
import type { Database } from '../../metadata/schema.ts';
import { type SignatureFormat, signatureFormats } from './signature-formats.ts';
import { type SignatureMode, type SignatureRequirement, signatureRequirement } from './signature-requirement.ts';
import { parseTrustedCertificate, parseTrustedKey } from './trusted-keys.ts';

/** A named PEM: a public key or a certificate. */
export interface NamedPem {
  name: string;
  pem: string;
}

/** A project's signature policy as its admins set it. */
export interface ProjectSignaturePolicy {
  requireSignatures: boolean;
  mode: SignatureMode;
  formats: SignatureFormat[];
  trustedKeys: NamedPem[];
  trustedCertificates: NamedPem[];
  /** Undefined while the project never set one (the defaults apply). */
  updatedAt: number | undefined;
  updatedBy: string | null;
}

export type ProjectSignaturePolicyInput = Omit<ProjectSignaturePolicy, 'updatedAt' | 'updatedBy'>;

export const defaultProjectSignaturePolicy: ProjectSignaturePolicyInput = {
  requireSignatures: false,
  mode: 'presence',
  formats: [...signatureFormats],
  trustedKeys: [],
  trustedCertificates: [],
};

/** The table of migration 011 (a type, not an interface: Kysely's withTables wants an index signature). */
type SignaturePolicyTables = {
  signature_policies: {
    project_id: number;
    require_signatures: number;
    mode: string;
    formats: string;
    trusted_keys: string;
    trusted_certificates: string;
    updated_at: number;
    updated_by: string | null;
  };
  projects: { id: number; name: string };
};

/**
 * How long a project's requirement is used before it is read again. A change made on this instance
 * applies at once, one made on another instance within this time.
 */
export const signaturePolicyCacheMs = 5_000;

/** Per-project signature policies, and the requirement each puts on pulls. */
export class SignaturePolicyStore {
  private readonly db: Kysely<Database & SignaturePolicyTables>;
  private readonly cache = new Map<
    string,
    { loadedAt: number; requirement: Promise<SignatureRequirement | undefined> }
  >();

  constructor(
    database: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {
    this.db = database.withTables<SignaturePolicyTables>();
  }

  async get(project: string): Promise<ProjectSignaturePolicy> {
    const row = await this.db
      .selectFrom('signature_policies')
      .innerJoin('projects', 'projects.id', 'signature_policies.project_id')
      .selectAll('signature_policies')
      .where('projects.name', '=', project)
      .executeTakeFirst();
    if (!row) return { ...defaultProjectSignaturePolicy, updatedAt: undefined, updatedBy: null };
    return {
      requireSignatures: row.require_signatures === 1,
      mode: row.mode as SignatureMode,
      formats: JSON.parse(row.formats) as SignatureFormat[],
      trustedKeys: JSON.parse(row.trusted_keys) as NamedPem[],
      trustedCertificates: JSON.parse(row.trusted_certificates) as NamedPem[],
      updatedAt: Number(row.updated_at),
      updatedBy: row.updated_by,
    };
  }

  async set(
    projectId: number,
    project: string,
    policy: ProjectSignaturePolicyInput,
    updatedBy: string,
  ): Promise<ProjectSignaturePolicy> {
    const values = {
      require_signatures: policy.requireSignatures ? 1 : 0,
      mode: policy.mode,
      formats: JSON.stringify(policy.formats),
      trusted_keys: JSON.stringify(policy.trustedKeys),
      trusted_certificates: JSON.stringify(policy.trustedCertificates),
      updated_at: this.now(),
      updated_by: updatedBy,
    };
    await this.db
      .insertInto('signature_policies')
      .values({ project_id: projectId, ...values })
      .onConflict((conflict) => conflict.column('project_id').doUpdateSet(values))
      .execute();
    this.cache.delete(project);
    return this.get(project);
  }

  forget(project: string): void {
    this.cache.delete(project);
  }

  /** The requirement the project puts on pulls, if it requires signatures; read at most every signaturePolicyCacheMs. */
  requirement(project: string): Promise<SignatureRequirement | undefined> {
    const cached = this.cache.get(project);
    if (cached && this.now() - cached.loadedAt < signaturePolicyCacheMs) return cached.requirement;
    const requirement = this.get(project).then(requirementOf);
    this.cache.set(project, { loadedAt: this.now(), requirement });
    requirement.catch(() => this.cache.delete(project));
    return requirement;
  }
}

function requirementOf(policy: ProjectSignaturePolicy): SignatureRequirement | undefined {
  if (!policy.requireSignatures) return undefined;
  return signatureRequirement(
    'project',
    policy.mode,
    policy.formats,
    policy.trustedKeys.map((key) => parseTrustedKey(key.name, key.pem)),
    policy.trustedCertificates.map((certificate) => parseTrustedCertificate(certificate.name, certificate.pem)),
  );
}
