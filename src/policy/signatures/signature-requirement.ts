import { createHash } from 'node:crypto';
import type { SignatureFormat } from './signature-formats.ts';
import { type TrustedCertificate, type TrustedKey, trustSetId } from './trusted-keys.ts';

export const signatureModes = ['presence', 'verified'] as const;
/** `presence`: a signature of an accepted format is attached. `verified`: one verifies with trusted keys. */
export type SignatureMode = (typeof signatureModes)[number];

/** What a pull must show, from `policy.signatures` (the registry) or a project's signature policy. */
export interface SignatureRequirement {
  source: 'registry' | 'project';
  mode: SignatureMode;
  formats: readonly SignatureFormat[];
  keys: readonly TrustedKey[];
  certificates: readonly TrustedCertificate[];
  /** The trust material's id: verification results are kept per subject, signature and this. */
  trustId: string;
  /** Mode, formats and trust material in one id: decisions are kept per image and this. */
  id: string;
}

export function signatureRequirement(
  source: SignatureRequirement['source'],
  mode: SignatureMode,
  formats: readonly SignatureFormat[],
  keys: readonly TrustedKey[],
  certificates: readonly TrustedCertificate[],
): SignatureRequirement {
  const trustId = trustSetId(keys, certificates);
  const id = createHash('sha256')
    .update(`${mode}|${[...formats].sort().join(',')}|${trustId}`)
    .digest('hex')
    .slice(0, 32);
  return { source, mode, formats, keys, certificates, trustId, id };
}

/** `cosign`, `cosign or notation`: the accepted formats in a sentence. */
export function describeFormats(formats: readonly SignatureFormat[]): string {
  return formats.join(' or ');
}
