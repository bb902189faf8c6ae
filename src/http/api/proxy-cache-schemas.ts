import { z } from 'zod';
import { isRepositoryName } from '../../oci/reference.ts';
import type { ProxyProjectRecord } from '../../replication/proxy/proxy-project-store.ts';
import { timestamp, timestampSchema } from './common-schemas.ts';

/** A cached tag is asked about again after five minutes unless told otherwise. */
export const defaultTagTtlSeconds = 300;

const upstreamUrlSchema = z
  .string()
  .min(1)
  .max(2048)
  .refine(
    (value) => {
      if (!URL.canParse(value)) return false;
      const url = new URL(value);
      return (url.protocol === 'https:' || url.protocol === 'http:') && url.search === '' && url.hash === '';
    },
    { message: 'expected an http:// or https:// URL without query or fragment, e.g. "https://registry-1.docker.io"' },
  )
  .meta({ example: 'https://registry-1.docker.io' });

const credentialInputSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('basic'),
    access_key: z.string().min(1).max(1024).describe('the user name'),
    access_secret: z
      .string()
      .max(8192)
      .optional()
      .describe('the password or token; stored encrypted, never returned. Left out, the stored one is kept'),
  }),
  z.strictObject({ type: z.literal('none') }),
]);

export const proxyCacheInputSchema = z.strictObject({
  url: upstreamUrlSchema.describe("the upstream registry's base URL"),
  credential: credentialInputSchema
    .optional()
    .describe('what the cache authenticates to the upstream with; left out, the stored credential is kept'),
  ca_certificate: z.string().max(65_536).nullable().optional().describe('PEM certificates to trust for the upstream'),
  insecure: z.boolean().default(false).describe("do not verify the upstream's TLS certificate"),
  tag_ttl_seconds: z
    .number()
    .int()
    .min(0)
    .max(366 * 24 * 3600)
    .default(defaultTagTtlSeconds)
    .describe('how long a cached tag is served before the upstream is asked whether it moved (0: every pull)'),
  remote_namespace: z
    .string()
    .max(255)
    .refine(isRepositoryName, { message: 'expected a repository name prefix such as "library" or "team/images"' })
    .nullable()
    .optional()
    .describe('put in front of the name below the project: with "library", team/nginx pulls library/nginx'),
});

export type ProxyCacheInput = z.output<typeof proxyCacheInputSchema>;

export const proxyCacheSchema = z.object({
  project: z.string(),
  url: z.string(),
  credential: z.object({
    type: z.enum(['basic', 'none']),
    access_key: z.string().optional(),
    has_secret: z.boolean().describe('whether a secret is stored (it is never shown)'),
  }),
  ca_certificate: z.string().nullable(),
  insecure: z.boolean(),
  tag_ttl_seconds: z.number().int(),
  remote_namespace: z.string().nullable(),
  creation_time: timestampSchema,
  update_time: timestampSchema,
  updated_by: z.string().nullable(),
});

export function proxyCacheBody(record: ProxyProjectRecord): z.output<typeof proxyCacheSchema> {
  return {
    project: record.project,
    url: record.url,
    credential:
      record.username === undefined
        ? { type: 'none', has_secret: false }
        : { type: 'basic', access_key: record.username, has_secret: record.hasPassword },
    ca_certificate: record.ca ?? null,
    insecure: record.insecure,
    tag_ttl_seconds: Math.round(record.tagTtlMs / 1000),
    remote_namespace: record.remoteNamespace ?? null,
    creation_time: timestamp(record.createdAt),
    update_time: timestamp(record.updatedAt),
    updated_by: record.updatedBy ?? null,
  };
}
