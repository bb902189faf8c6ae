/**
 * How cosign and notation store signatures in a registry, as far as the gate needs to know.
 *
 * cosign (sigstore/cosign, specs/SIGNATURE_SPEC.md and pkg/oci/remote/write.go): an OCI image
 * manifest whose layers are `application/vnd.dev.cosign.simplesigning.v1+json` blobs (the signed
 * payload), each layer carrying the base64 signature over the blob's bytes in the annotation
 * `dev.cosignproject.cosign/signature`. Without the referrers API it is tagged `sha256-<hex>.sig`
 * in the image's repository; in OCI 1.1 mode it has a `subject` and the artifact type
 * `application/vnd.dev.cosign.artifact.sig.v1+json` (written as config.mediaType by cosign 2, as
 * artifactType by later versions; Wharf reports either as the referrer's artifactType).
 *
 * notation (notaryproject/specifications, specs/signature-specification.md): an OCI image manifest
 * with artifactType `application/vnd.cncf.notary.signature`, a `subject`, and one layer holding the
 * envelope, `application/jose+json` (JWS JSON serialization) or `application/cose`.
 */

export const signatureFormats = ['cosign', 'notation'] as const;
export type SignatureFormat = (typeof signatureFormats)[number];

export const CosignTypes = {
  simpleSigningLayer: 'application/vnd.dev.cosign.simplesigning.v1+json',
  signatureAnnotation: 'dev.cosignproject.cosign/signature',
  signatureArtifact: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  /** The `critical.type` of a simple-signing payload. */
  payloadType: 'cosign container image signature',
} as const;

export const NotationTypes = {
  signatureArtifact: 'application/vnd.cncf.notary.signature',
  jwsEnvelope: 'application/jose+json',
  coseEnvelope: 'application/cose',
  payloadContentType: 'application/vnd.cncf.notary.payload.v1+json',
} as const;

/** The tag under which cosign stores the signatures of `digest` without the referrers API. */
export function cosignSignatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** The signature format a referrer's artifactType stands for, if it is a signature. */
export function formatOfArtifactType(artifactType: string | null | undefined): SignatureFormat | undefined {
  if (artifactType === CosignTypes.signatureArtifact) return 'cosign';
  if (artifactType === NotationTypes.signatureArtifact) return 'notation';
  return undefined;
}

/**
 * Layer media types of cosign's attachments (signatures, DSSE attestations, in-toto statements,
 * sigstore bundles, SBOMs): what cosign stores under `sha256-<hex>.sig`, `.att` and `.sbom`.
 */
const attachmentLayerTypes = new Set([
  CosignTypes.simpleSigningLayer,
  'application/vnd.dsse.envelope.v1+json',
  'application/vnd.in-toto+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'text/spdx',
  'text/spdx+json',
  'text/spdx+xml',
  'application/vnd.cyclonedx',
  'application/vnd.cyclonedx+json',
  'application/vnd.cyclonedx+xml',
  'application/vnd.syft+json',
]);

/** Configuration types of images a runtime runs. */
const imageConfigTypes = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);

/** Whether an image manifest's payload is one of cosign's attachments, judged by its layers. */
export function isCosignAttachmentManifest(payload: Buffer): boolean {
  const layers = parseJson(payload)?.layers;
  if (!Array.isArray(layers) || layers.length === 0) return false;
  return layers.every(
    (layer: unknown) =>
      typeof layer === 'object' &&
      layer !== null &&
      attachmentLayerTypes.has(String((layer as { mediaType?: unknown }).mediaType)),
  );
}

/**
 * Whether a manifest is one a runtime would run: its config is an image configuration. A `subject`
 * does not make such a manifest harmless, so it stays subject to the signature policy.
 */
export function hasImageConfig(payload: Buffer): boolean {
  const config = parseJson(payload)?.config as { mediaType?: unknown } | undefined;
  return imageConfigTypes.has(String(config?.mediaType));
}

export function parseJson(bytes: Buffer | string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
