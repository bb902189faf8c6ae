import { z } from 'zod';
import { maxProjectNameLength, projectNameGrammar } from '../../auth/projects/project-name.ts';
import type { ProjectRole } from '../../auth/projects/roles.ts';
import { memberRoles, type ProjectRecord } from '../../metadata/project-store.ts';
import { timestamp, timestampSchema } from './common-schemas.ts';

export const projectNameSchema = z
  .string()
  .min(1)
  .max(maxProjectNameLength)
  .regex(projectNameGrammar, {
    message: 'a project name is lower-case letters and digits, separated by ".", "_", "__" or "-"',
  })
  .meta({ example: 'team' });

export const roleSchema = z.enum(memberRoles);

export const projectPathSchema = z.object({ name: projectNameSchema });

export const newProjectSchema = z.strictObject({
  name: projectNameSchema,
  public: z.boolean().default(false).describe('anyone, anonymous callers included, may pull'),
});

export const projectChangesSchema = z.strictObject({
  public: z.boolean().describe('anyone, anonymous callers included, may pull'),
});

export const projectSchema = z.object({
  project_id: z.number().int(),
  name: z.string(),
  public: z.boolean(),
  created_at: timestampSchema,
  created_by: z.string().nullable(),
  quota_bytes: z.number().int().nullable(),
  current_user_role: roleSchema.nullable().describe("the caller's highest role here, directly or through a group"),
  repo_count: z.number().int().optional().describe('repositories holding at least one manifest (single project only)'),
});

export type ProjectBody = z.output<typeof projectSchema>;

export function projectBody(project: ProjectRecord, role: ProjectRole | undefined, repoCount?: number): ProjectBody {
  const body: ProjectBody = {
    project_id: project.id,
    name: project.name,
    public: project.public,
    created_at: timestamp(project.createdAt),
    created_by: project.createdBy,
    quota_bytes: project.quotaBytes,
    current_user_role: role ?? null,
  };
  if (repoCount !== undefined) body.repo_count = repoCount;
  return body;
}
