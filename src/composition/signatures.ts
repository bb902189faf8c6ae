import { readFile } from 'node:fs/promises';
import type { Registry } from 'prom-client';
import { ConfigError } from '../config/config-error.ts';
import type { Config } from '../config/index.ts';
import type { MetadataStore } from '../metadata/metadata-store.ts';
import { SignatureGate } from '../policy/signatures/signature-gate.ts';
import { registerSignatureMetrics } from '../policy/signatures/signature-metrics.ts';
import { SignaturePolicyStore } from '../policy/signatures/signature-policy-store.ts';
import { signatureReads } from '../policy/signatures/signature-reads.ts';
import { type SignatureRequirement, signatureRequirement } from '../policy/signatures/signature-requirement.ts';
import {
  parseTrustedCertificate,
  parseTrustedKey,
  type TrustedCertificate,
  type TrustedKey,
  TrustMaterialError,
} from '../policy/signatures/trusted-keys.ts';
import type { StorageDriver } from '../storage/driver.ts';

export interface SignatureDependencies {
  /** The store itself: its listeners see every delete. */
  metadata: MetadataStore;
  /** What requests read through. */
  cachedMetadata: MetadataStore;
  storage: StorageDriver;
  metrics: Registry;
}

export interface ComposedSignatures {
  gate: SignatureGate;
  /** Per-project policies (managed through the API in projects mode). */
  policies: SignaturePolicyStore;
}

/**
 * The signature gate (docs/signatures.md): `policy.signatures` for the whole registry, and in
 * projects mode each project's own policy. Key and certificate files are read once, at start.
 */
export async function composeSignatures(config: Config, deps: SignatureDependencies): Promise<ComposedSignatures> {
  const policies = new SignaturePolicyStore(deps.metadata.db);
  const gate = new SignatureGate({
    registry: await registryRequirement(config.policy.signatures),
    project: config.auth.projects.enabled ? (project) => policies.requirement(project) : undefined,
    reads: signatureReads(deps.cachedMetadata, deps.storage),
    denied: registerSignatureMetrics(deps.metrics),
  });
  // A deleted signature (or a tag moved off it) must not stay trusted for long: forget what was allowed.
  deps.metadata.addChangeListener(async (_trx, change) => {
    if (change.type === 'manifest.deleted' || change.type === 'tag.deleted' || change.type === 'repository.deleted') {
      gate.forgetDecisions();
    }
  });
  return { gate, policies };
}

async function registryRequirement(
  settings: Config['policy']['signatures'],
): Promise<SignatureRequirement | undefined> {
  if (!settings.required) return undefined;
  const keys: TrustedKey[] = [];
  const certificates: TrustedCertificate[] = [];
  for (const [index, path] of settings.trustedkeys.entries()) {
    const key = `policy.signatures.trustedkeys.${index}`;
    const pem = await readTrustFile(key, path);
    keys.push(asConfigError(key, () => parseTrustedKey(path, pem)));
  }
  for (const [index, path] of settings.trustedcertificates.entries()) {
    const key = `policy.signatures.trustedcertificates.${index}`;
    const pem = await readTrustFile(key, path);
    certificates.push(asConfigError(key, () => parseTrustedCertificate(path, pem)));
  }
  return signatureRequirement('registry', settings.mode, settings.formats, keys, certificates);
}

async function readTrustFile(key: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(error as Error).message}`);
  }
}

function asConfigError<T>(key: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof TrustMaterialError) throw new ConfigError(`${key}: ${error.message}`);
    throw error;
  }
}
