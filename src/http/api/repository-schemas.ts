import { z } from 'zod';
import type { Artifact, RepositorySummary } from '../../policy/artifact-inventory.ts';
import { timestamp, timestampSchema } from './common-schemas.ts';
import { projectNameSchema } from './project-schemas.ts';

/**
 * A repository in the path, without its project, `/` written as `%2F` (`team/app/api` is
 * `/projects/team/repositories/app%2Fapi`); Harbor's double encoding (`%252F`) is read too.
 */
export const repositoryPathSchema = z.object({
  name: projectNameSchema,
  repository: z
    .string()
    .min(1)
    .max(255)
    .transform((value) => (value.includes('%') ? safeDecode(value) : value))
    .meta({ example: 'app%2Fapi' }),
});

export const repositorySchema = z.object({
  name: z.string().describe('the full repository name, project included'),
  artifact_count: z.number().int(),
  tag_count: z.number().int(),
  created_at: timestampSchema,
  updated_at: timestampSchema.describe('the last push of a manifest or a tag'),
});

export const artifactSchema = z.object({
  digest: z.string(),
  media_type: z.string(),
  artifact_type: z.string().nullable(),
  size: z.number().int().describe('the manifest bytes'),
  tags: z.array(z.string()),
  pushed_at: timestampSchema.describe('when the manifest was stored, or last tagged by a push'),
  pulled_at: timestampSchema.nullable().describe('the last pull, to the minute; null if never pulled'),
  subject_digest: z.string().nullable().describe('the manifest this one refers to (a signature, an SBOM)'),
  manifests: z.array(z.string()).describe('for an index: the digests of the manifests it names'),
});

export function repositoryBody(repository: RepositorySummary): z.output<typeof repositorySchema> {
  return {
    name: repository.name,
    artifact_count: repository.artifactCount,
    tag_count: repository.tagCount,
    created_at: timestamp(repository.createdAt),
    updated_at: timestamp(repository.updatedAt),
  };
}

export function artifactBody(artifact: Artifact): z.output<typeof artifactSchema> {
  return {
    digest: artifact.digest,
    media_type: artifact.mediaType,
    artifact_type: artifact.artifactType,
    size: artifact.size,
    tags: artifact.tags,
    pushed_at: timestamp(artifact.pushedAt),
    pulled_at: artifact.pulledAt === null ? null : timestamp(artifact.pulledAt),
    subject_digest: artifact.subjectDigest,
    manifests: artifact.childDigests,
  };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
