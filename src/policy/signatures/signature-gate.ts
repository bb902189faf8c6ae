import { projectOf } from '../../auth/projects/project-name.ts';
import type { ManifestRecord, ManifestWithPayload } from '../../metadata/metadata-store.ts';
import { RegistryError } from '../../oci/errors.ts';
import { MediaTypes } from '../../oci/media-types.ts';
import { cosignSignatureLayers, verifyCosignSignature } from './cosign-signature.ts';
import { verifyNotationJws } from './notation-signature.ts';
import {
  cosignSignatureTag,
  formatOfArtifactType,
  hasImageConfig,
  isCosignAttachmentManifest,
  NotationTypes,
  parseJson,
  type SignatureFormat,
} from './signature-formats.ts';
import type { SignatureReads } from './signature-reads.ts';
import { describeFormats, type SignatureRequirement } from './signature-requirement.ts';

/** Why a pull was refused: the metric's `reason` label. */
export type DenialReason = 'unsigned' | 'untrusted' | 'mismatch';

/** Who pulls, as far as the gate cares. */
export interface PullReader {
  /**
   * Whether the caller may push here and runs a signing tool (cosign, notation): it reads the
   * manifest it is about to sign, which cannot be signed yet. Asked only before a refusal.
   */
  isSigner(): Promise<boolean>;
}

export interface SignatureGateOptions {
  /** `policy.signatures`, when it requires signatures. */
  registry: SignatureRequirement | undefined;
  /** A project's own requirement (projects mode); undefined when the project has none. */
  project?(project: string): Promise<SignatureRequirement | undefined>;
  reads: SignatureReads;
  /** Counts a refusal (`wharf_signature_policy_denials_total`). */
  denied(project: string, reason: DenialReason): void;
  now?(): number;
}

/** How long an allowed image stays allowed without looking at its signatures again. */
export const allowedForMs = 10_000;
/** Bounds on what is remembered. */
const decisionsLimit = 20_000;
const verificationsLimit = 50_000;

type Verdict = { ok: true } | { ok: false; reason: DenialReason };
const allowed: Verdict = { ok: true };

/**
 * Refuses pulls of images that are not signed as the registry's or the project's signature policy
 * requires (docs/signatures.md). Asked by the registry for each manifest read through the
 * distribution API. Allowed images are remembered for allowedForMs per image and requirement, and
 * each signature checked is remembered per (image, signature, trusted keys), so a hot tag costs a
 * map lookup; refusals are not remembered, so an image signed a moment ago is served at once.
 */
export class SignatureGate {
  private readonly decisions = new Map<string, number>();
  private readonly verifications = new Map<string, Verdict>();
  private readonly now: () => number;

  constructor(private readonly options: SignatureGateOptions) {
    this.now = options.now ?? Date.now;
  }

  async check(repository: string, reference: string, manifest: ManifestRecord, reader: PullReader): Promise<void> {
    const project = projectOf(repository);
    const requirements = await this.requirementsOf(project);
    if (requirements.length === 0) return;
    const digest = manifest.digest;
    const key = `${repository}@${digest}#${requirements.map((requirement) => requirement.id).join(',')}`;
    const until = this.decisions.get(key);
    if (until !== undefined && until > this.now()) return;
    if (await this.isAttachment(repository, manifest)) {
      this.remember(key);
      return;
    }
    let refusal: { requirement: SignatureRequirement; reason: DenialReason } | undefined;
    for (const requirement of requirements) {
      const verdict = await this.covered(repository, digest, requirement);
      if (!verdict.ok) {
        refusal = { requirement, reason: verdict.reason };
        break;
      }
    }
    if (!refusal) {
      this.remember(key);
      return;
    }
    if (await reader.isSigner()) return;
    this.options.denied(project, refusal.reason);
    throw denial(repository, reference, digest, project, refusal.requirement, refusal.reason);
  }

  /** Forgets every allowed image (a signature may have been deleted). */
  forgetDecisions(): void {
    this.decisions.clear();
  }

  private async requirementsOf(project: string): Promise<SignatureRequirement[]> {
    const own = await this.options.project?.(project);
    return [this.options.registry, own].filter((requirement) => requirement !== undefined);
  }

  /**
   * Signatures, attestations and SBOMs are pulled to be checked, never run: a referrer (it has a
   * subject) that is not a runnable image, and a manifest made only of cosign's attachment layers
   * (what it tags `sha256-<hex>.sig`, `.att`, `.sbom`). Judged by content, whatever the reference.
   */
  private async isAttachment(repository: string, manifest: ManifestRecord): Promise<boolean> {
    if (manifest.mediaType === MediaTypes.ociIndex) return Boolean(manifest.subjectDigest);
    if (manifest.mediaType !== MediaTypes.ociManifest) return false;
    // A GET has the bytes already; a HEAD reads them.
    const payload =
      (manifest as Partial<ManifestWithPayload>).payload ??
      (await this.options.reads.manifestByDigest(repository, manifest.digest))?.payload;
    if (!payload) return false;
    if (isCosignAttachmentManifest(payload)) return true;
    return Boolean(manifest.subjectDigest) && !hasImageConfig(payload);
  }

  /** The image is signed as required, itself or (a child pulled by digest) through an index that lists it. */
  private async covered(repository: string, digest: string, requirement: SignatureRequirement): Promise<Verdict> {
    const own = await this.signed(repository, digest, requirement);
    if (own.ok) return own;
    for (const parent of await this.options.reads.parentIndexes(repository, digest)) {
      if ((await this.signed(repository, parent, requirement)).ok) return allowed;
    }
    return own;
  }

  private async signed(repository: string, subject: string, requirement: SignatureRequirement): Promise<Verdict> {
    const { reads } = this.options;
    const accepts = (format: SignatureFormat) => requirement.formats.includes(format);
    const candidates: Array<{ format: SignatureFormat; digest: string }> = [];
    if (accepts('cosign')) {
      const tagged = await reads.manifestByTag(repository, cosignSignatureTag(subject));
      if (tagged && cosignSignatureLayers(tagged.payload).length > 0) {
        candidates.push({ format: 'cosign', digest: tagged.digest });
      }
    }
    for (const referrer of await reads.referrers(repository, subject)) {
      const format = formatOfArtifactType(referrer.artifactType);
      if (format && accepts(format)) candidates.push({ format, digest: referrer.digest });
    }
    if (candidates.length === 0) return { ok: false, reason: 'unsigned' };
    if (requirement.mode === 'presence') return allowed;
    let failure: DenialReason = 'untrusted';
    for (const candidate of candidates) {
      const verdict = await this.verified(repository, subject, candidate.format, candidate.digest, requirement);
      if (verdict.ok) return verdict;
      if (verdict.reason === 'mismatch') failure = 'mismatch';
    }
    return { ok: false, reason: failure };
  }

  /** One signature manifest checked against the trusted keys, remembered per (image, signature, trust set). */
  private async verified(
    repository: string,
    subject: string,
    format: SignatureFormat,
    signatureDigest: string,
    requirement: SignatureRequirement,
  ): Promise<Verdict> {
    const key = `${subject}|${signatureDigest}|${requirement.trustId}`;
    const known = this.verifications.get(key);
    if (known) return known;
    const signature = await this.options.reads.manifestByDigest(repository, signatureDigest);
    if (!signature) return { ok: false, reason: 'untrusted' };
    const verdict =
      format === 'cosign'
        ? await this.verifiedCosign(subject, signature.payload, requirement)
        : await this.verifiedNotation(subject, signature.payload, requirement);
    if (this.verifications.size >= verificationsLimit) this.verifications.clear();
    this.verifications.set(key, verdict);
    return verdict;
  }

  private async verifiedCosign(subject: string, manifest: Buffer, requirement: SignatureRequirement): Promise<Verdict> {
    if (requirement.keys.length === 0) return { ok: false, reason: 'untrusted' };
    let failure: DenialReason = 'untrusted';
    for (const layer of cosignSignatureLayers(manifest)) {
      const payload = await this.options.reads.smallBlob(layer.digest, layer.size);
      if (!payload) continue;
      const verdict = verifyCosignSignature(payload, layer.signature, subject, requirement.keys);
      if (verdict === 'verified') return allowed;
      if (verdict === 'wrong-subject') failure = 'mismatch';
    }
    return { ok: false, reason: failure };
  }

  private async verifiedNotation(
    subject: string,
    manifest: Buffer,
    requirement: SignatureRequirement,
  ): Promise<Verdict> {
    if (requirement.certificates.length === 0) return { ok: false, reason: 'untrusted' };
    const layers = parseJson(manifest)?.layers;
    if (!Array.isArray(layers)) return { ok: false, reason: 'untrusted' };
    let failure: DenialReason = 'untrusted';
    for (const layer of layers as Array<Record<string, unknown>>) {
      // COSE envelopes count in presence mode only.
      if (layer?.mediaType !== NotationTypes.jwsEnvelope) continue;
      if (typeof layer.digest !== 'string' || typeof layer.size !== 'number') continue;
      const envelope = await this.options.reads.smallBlob(layer.digest, layer.size);
      if (!envelope) continue;
      const verdict = verifyNotationJws(envelope, subject, requirement.certificates);
      if (verdict === 'verified') return allowed;
      if (verdict === 'wrong-subject') failure = 'mismatch';
    }
    return { ok: false, reason: failure };
  }

  private remember(key: string): void {
    if (this.decisions.size >= decisionsLimit) this.decisions.clear();
    this.decisions.set(key, this.now() + allowedForMs);
  }
}

function denial(
  repository: string,
  reference: string,
  digest: string,
  project: string,
  requirement: SignatureRequirement,
  reason: DenialReason,
): RegistryError {
  const image = reference.includes(':') ? `${repository}@${digest}` : `${repository}:${reference} (${digest})`;
  const formats = describeFormats(requirement.formats);
  const who = requirement.source === 'project' ? `project ${project}` : 'this registry';
  const policy = requirement.source === 'project' ? `the signature policy of project ${project}` : 'policy.signatures';
  const requirementText =
    requirement.mode === 'verified'
      ? `${who} serves only images with a ${formats} signature that verifies with one of its trusted keys`
      : `${who} serves only images with a ${formats} signature`;
  const finding = {
    unsigned: `The image is not signed by ${formats}.`,
    untrusted: `The image is not signed by a trusted key.`,
    mismatch: `The image's signature is for another image.`,
  }[reason];
  return new RegistryError(
    'PROJECTPOLICYVIOLATION',
    `${finding} ${image}: ${requirementText} (${policy}). Sign it, for example with cosign sign --key, and pull again.`,
    {
      detail: {
        policy: 'signatures',
        source: requirement.source,
        project,
        repository,
        digest,
        reason,
        mode: requirement.mode,
        formats: requirement.formats,
      },
    },
  );
}
