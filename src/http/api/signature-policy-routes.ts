import { z } from 'zod';
import type { ProjectStore } from '../../metadata/project-store.ts';
import { RegistryError } from '../../oci/errors.ts';
import { signatureFormats } from '../../policy/signatures/signature-formats.ts';
import type { ProjectSignaturePolicy, SignaturePolicyStore } from '../../policy/signatures/signature-policy-store.ts';
import { signatureModes } from '../../policy/signatures/signature-requirement.ts';
import { parseTrustedCertificate, parseTrustedKey } from '../../policy/signatures/trusted-keys.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { timestamp, timestampSchema } from './common-schemas.ts';
import { requireProjectAdmin } from './lifecycle-access.ts';
import { ProjectAccess } from './project-access.ts';
import { projectPathSchema } from './project-schemas.ts';

const tag = 'signatures';

const namedPem = (what: string) =>
  z.strictObject({
    name: z.string().min(1).max(100).describe(`what the ${what} is called in refusals and logs`),
    pem: z.string().min(1).max(16_384).describe(`the ${what}, PEM-encoded`),
  });

const policyInputSchema = z
  .strictObject({
    require_signatures: z
      .boolean()
      .describe('refuse pulls of images that are not signed as this policy says (Harbor: enable_content_trust_cosign)'),
    mode: z
      .enum(signatureModes)
      .default('presence')
      .describe('presence: a signature of an accepted format is attached; verified: one verifies with a trusted key'),
    formats: z
      .array(z.enum(signatureFormats))
      .min(1)
      .default([...signatureFormats])
      .transform((formats) => [...new Set(formats)])
      .describe('the signature formats that count'),
    trusted_keys: z
      .array(namedPem('public key'))
      .max(20)
      .default([])
      .describe(
        'public keys cosign signatures are verified with in verified mode: ECDSA P-256/P-384/P-521, RSA, Ed25519',
      ),
    trusted_certificates: z
      .array(namedPem('certificate'))
      .max(20)
      .default([])
      .describe('X.509 certificates (CA or signing) notation signatures must chain to in verified mode'),
  })
  .superRefine((policy, context) => {
    policy.trusted_keys.forEach((key, index) => {
      try {
        parseTrustedKey(key.name, key.pem);
      } catch (error) {
        context.addIssue({ code: 'custom', path: ['trusted_keys', index, 'pem'], message: (error as Error).message });
      }
    });
    policy.trusted_certificates.forEach((certificate, index) => {
      try {
        parseTrustedCertificate(certificate.name, certificate.pem);
      } catch (error) {
        const path = ['trusted_certificates', index, 'pem'];
        context.addIssue({ code: 'custom', path, message: (error as Error).message });
      }
    });
    const trust = policy.trusted_keys.length + policy.trusted_certificates.length;
    if (policy.require_signatures && policy.mode === 'verified' && trust === 0) {
      context.addIssue({
        code: 'custom',
        path: ['trusted_keys'],
        message: 'verified mode needs at least one trusted key (or certificate for notation)',
      });
    }
  });

const policySchema = z.object({
  require_signatures: z.boolean(),
  mode: z.enum(signatureModes),
  formats: z.array(z.enum(signatureFormats)),
  trusted_keys: z.array(z.object({ name: z.string(), pem: z.string(), fingerprint: z.string() })),
  trusted_certificates: z.array(z.object({ name: z.string(), pem: z.string(), fingerprint: z.string() })),
  updated_at: timestampSchema.nullable().describe('null while the project never set its policy'),
  updated_by: z.string().nullable(),
});

/**
 * A project's signature policy: whether pulls need signatures, which formats count, and the keys
 * and certificates trusted in verified mode (docs/signatures.md).
 */
export function signaturePolicyRoutes(deps: { projects: ProjectStore; policies: SignaturePolicyStore }): ApiRoute[] {
  const access = new ProjectAccess(deps.projects, (message) => new RegistryError('UNAUTHORIZED', message));
  const { policies } = deps;
  return [
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/signature-policy',
      operationId: 'getSignaturePolicy',
      summary: "The project's signature policy",
      tag,
      anonymous: true,
      params: projectPathSchema,
      responses: [{ status: 200, description: 'the policy (the defaults when never set)', schema: policySchema }],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        return { status: 200, body: policyBody(await policies.get(params.name)) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/projects/{name}/signature-policy',
      operationId: 'setSignaturePolicy',
      summary: "Replace the project's signature policy (project admins)",
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: policyInputSchema,
      responses: [{ status: 200, description: 'the policy now in force', schema: policySchema }],
      async handler({ principal, params, body }) {
        const view = await requireProjectAdmin(access, principal, params.name, 'set the signature policy');
        const policy = await policies.set(
          view.project.id,
          params.name,
          {
            requireSignatures: body.require_signatures,
            mode: body.mode,
            formats: body.formats,
            trustedKeys: body.trusted_keys,
            trustedCertificates: body.trusted_certificates,
          },
          principal.name,
        );
        return { status: 200, body: policyBody(policy) };
      },
    }),
  ];
}

function policyBody(policy: ProjectSignaturePolicy): z.output<typeof policySchema> {
  return {
    require_signatures: policy.requireSignatures,
    mode: policy.mode,
    formats: policy.formats,
    trusted_keys: policy.trustedKeys.map((key) => ({
      ...key,
      fingerprint: parseTrustedKey(key.name, key.pem).fingerprint,
    })),
    trusted_certificates: policy.trustedCertificates.map((certificate) => ({
      ...certificate,
      fingerprint: parseTrustedCertificate(certificate.name, certificate.pem).fingerprint,
    })),
    updated_at: policy.updatedAt === undefined ? null : timestamp(policy.updatedAt),
    updated_by: policy.updatedBy,
  };
}
