import { CosignTypes, parseJson } from './signature-formats.ts';
import { type TrustedKey, verifiesWithKey } from './trusted-keys.ts';

/** One signature in a cosign signature manifest: the payload blob and the signature over its bytes. */
export interface CosignSignatureLayer {
  /** Digest of the simple-signing payload blob. */
  digest: string;
  size: number;
  /** The base64 signature from the `dev.cosignproject.cosign/signature` annotation. */
  signature: string;
}

/** What checking one cosign signature found. */
export type CosignVerdict = 'verified' | 'untrusted' | 'wrong-subject';

/**
 * The signature layers of a cosign signature manifest. A `sha256-<hex>.sig` manifest gathers one
 * layer per `cosign sign`; layers of other types, or without the annotation, are no signatures.
 */
export function cosignSignatureLayers(manifest: Buffer): CosignSignatureLayer[] {
  const layers = parseJson(manifest)?.layers;
  if (!Array.isArray(layers)) return [];
  const found: CosignSignatureLayer[] = [];
  for (const layer of layers as unknown[]) {
    if (typeof layer !== 'object' || layer === null) continue;
    const { mediaType, digest, size, annotations } = layer as Record<string, unknown>;
    const signature = (annotations as Record<string, unknown> | undefined)?.[CosignTypes.signatureAnnotation];
    if (mediaType !== CosignTypes.simpleSigningLayer || typeof digest !== 'string' || typeof size !== 'number')
      continue;
    if (typeof signature !== 'string' || signature === '') continue;
    found.push({ digest, size, signature });
  }
  return found;
}

/**
 * The manifest digest a simple-signing payload signs (`critical.image.docker-manifest-digest`),
 * if the payload is one: `{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},
 * "type":"cosign container image signature"},"optional":…}`.
 */
export function signedDigestOf(payload: Buffer): string | undefined {
  const critical = parseJson(payload)?.critical as Record<string, unknown> | undefined;
  if (typeof critical !== 'object' || critical === null) return undefined;
  if (critical.type !== CosignTypes.payloadType) return undefined;
  const image = critical.image as Record<string, unknown> | undefined;
  const digest = image?.['docker-manifest-digest'];
  return typeof digest === 'string' ? digest : undefined;
}

/**
 * Checks one cosign signature of `subject`: the payload must name exactly that manifest (a valid
 * signature of another image proves nothing about this one), and the signature over the payload's
 * bytes must verify with one of `keys`.
 */
export function verifyCosignSignature(
  payload: Buffer,
  signature: string,
  subject: string,
  keys: readonly TrustedKey[],
): CosignVerdict {
  if (signedDigestOf(payload) !== subject) return 'wrong-subject';
  const bytes = Buffer.from(signature, 'base64');
  return keys.some((key) => verifiesWithKey(key.key, payload, bytes)) ? 'verified' : 'untrusted';
}
