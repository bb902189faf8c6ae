import { Cron } from 'croner';
import { z } from 'zod';
import { retentionRulesSchema, scheduleSchema } from '../../policy/retention/retention-rules.ts';
import type { RetentionPolicy, RetentionRun, RunArtifact } from '../../policy/retention/retention-store.ts';
import { timestamp, timestampSchema } from './common-schemas.ts';
import { projectNameSchema } from './project-schemas.ts';

export const policyInputSchema = z.strictObject({
  rules: retentionRulesSchema.describe('evaluated together: an artifact is kept when any rule keeps it'),
  schedule: scheduleSchema
    .default(null)
    .describe('cron, UTC: five fields, or six with seconds first ("0 3 * * *" daily at 03:00); null to run by hand'),
});

export const policySchema = z.object({
  rules: retentionRulesSchema,
  schedule: z.string().nullable(),
  next_run: timestampSchema.nullable().describe('the next scheduled run'),
  updated_at: timestampSchema,
  updated_by: z.string().nullable(),
});

export const runInputSchema = z
  .strictObject({ dry_run: z.boolean().default(false).describe('only record what would be deleted') })
  .prefault({});

export const runPathSchema = z.object({ name: projectNameSchema, id: z.coerce.number().int().min(1) });

export const runSchema = z.object({
  id: z.number().int(),
  trigger: z.enum(['manual', 'schedule']),
  dry_run: z.boolean(),
  status: z.enum(['running', 'succeeded', 'failed']),
  triggered_by: z.string().nullable(),
  scheduled_for: timestampSchema.nullable(),
  started_at: timestampSchema,
  finished_at: timestampSchema.nullable(),
  total: z.number().int().describe('artifacts judged, in repositories a rule applies to'),
  retained: z.number().int(),
  deleted: z.number().int().describe('deleted, or in a dry run to be deleted'),
  failed: z.number().int(),
  bytes_freed: z.number().int().describe("what the deletions release from the project's quota usage"),
  error: z.string().nullable(),
});

export const runArtifactSchema = z.object({
  repository: z.string(),
  digest: z.string(),
  tags: z.array(z.string()),
  size: z.number().int(),
  outcome: z.enum(['deleted', 'would-delete', 'failed']),
  error: z.string().nullable(),
});

export function policyBody(policy: RetentionPolicy): z.output<typeof policySchema> {
  const next =
    policy.schedule === null ? null : new Cron(policy.schedule, { paused: true, timezone: 'Etc/UTC' }).nextRun();
  return {
    rules: policy.rules,
    schedule: policy.schedule,
    next_run: next ? timestamp(next.getTime()) : null,
    updated_at: timestamp(policy.updatedAt),
    updated_by: policy.updatedBy,
  };
}

export function runBody(run: RetentionRun): z.output<typeof runSchema> {
  return {
    id: run.id,
    trigger: run.trigger,
    dry_run: run.dryRun,
    status: run.status,
    triggered_by: run.triggeredBy,
    scheduled_for: run.scheduledFor === null ? null : timestamp(run.scheduledFor),
    started_at: timestamp(run.startedAt),
    finished_at: run.finishedAt === null ? null : timestamp(run.finishedAt),
    total: run.total,
    retained: run.retained,
    deleted: run.deleted,
    failed: run.failed,
    bytes_freed: run.bytesFreed,
    error: run.error,
  };
}

export function runArtifactBody(artifact: RunArtifact): z.output<typeof runArtifactSchema> {
  return { ...artifact };
}
