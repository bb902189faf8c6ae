import { z } from 'zod';
import {
  executionStatuses,
  type RegistryEndpoint,
  type ReplicationPolicy,
  type ReplicationTask,
  taskStatuses,
  triggerTypes,
} from '../../replication/policies/replication-model.ts';
import type { ExecutionView } from '../../replication/policies/replication-service.ts';
import { timestamp, timestampSchema } from './common-schemas.ts';

/** The replication resources of the management API, in Harbor's shapes where Harbor has them. */

export const idPathSchema = z.object({ id: z.coerce.number().int().min(1) });
export const taskPathSchema = z.object({
  id: z.coerce.number().int().min(1),
  task_id: z.coerce.number().int().min(1),
});

const credentialInputSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('basic'),
    access_key: z.string().min(1).max(1024).describe('the user name'),
    access_secret: z
      .string()
      .max(8192)
      .optional()
      .describe(
        'the password or token; stored encrypted, never returned. Left out of an update, the stored one is kept',
      ),
  }),
  z.strictObject({ type: z.literal('none') }),
]);

const endpointFields = {
  name: z.string().min(1).max(255),
  url: z.string().min(1).max(2048).meta({ example: 'https://registry.example.com' }),
  description: z.string().max(1024).optional(),
  credential: credentialInputSchema.optional(),
  ca_certificate: z.string().max(65_536).nullable().optional().describe('PEM certificates to trust for this registry'),
  insecure: z.boolean().optional().describe('do not verify its TLS certificate'),
};

export const newEndpointSchema = z.strictObject(endpointFields);
export const endpointChangesSchema = z.strictObject({
  name: endpointFields.name.optional(),
  url: endpointFields.url.optional(),
  description: endpointFields.description,
  credential: endpointFields.credential,
  ca_certificate: endpointFields.ca_certificate,
  insecure: endpointFields.insecure,
});
export const pingSchema = z.strictObject({
  id: z.number().int().min(1).optional().describe('a stored endpoint; the other fields override its settings'),
  url: endpointFields.url.optional(),
  credential: endpointFields.credential,
  ca_certificate: endpointFields.ca_certificate,
  insecure: endpointFields.insecure,
});

export const endpointSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  url: z.string(),
  description: z.string(),
  type: z.literal('docker-registry'),
  credential: z.object({
    type: z.enum(['basic', 'none']),
    access_key: z.string().optional(),
    has_secret: z.boolean().describe('whether a secret is stored (it is never shown)'),
  }),
  ca_certificate: z.string().nullable(),
  insecure: z.boolean(),
  creation_time: timestampSchema,
  update_time: timestampSchema,
});

export const pingResultSchema = z.object({
  healthy: z.boolean(),
  message: z.string().optional().describe('why it is not healthy'),
  auth_scheme: z.string().optional().describe('basic or bearer, when the registry asks for credentials'),
  api_version: z.string().optional(),
});

const filterSchema = z.strictObject({
  type: z.enum(['name', 'tag']).describe('name: the repository; tag: the tag'),
  value: z.string().max(1024).describe('a glob: * within a path component, ** across, ?, {a,b}, [abc]'),
  decoration: z.enum(['matches', 'excludes']).default('matches'),
});

const registryReferenceSchema = z
  .object({ id: z.number().int().min(1) })
  .nullable()
  .optional();

export const policyInputSchema = z
  .strictObject({
    name: z.string().min(1).max(255),
    description: z.string().max(1024).default(''),
    enabled: z.boolean().default(true),
    src_registry: registryReferenceSchema.describe('the remote to pull from (pull mode)'),
    dest_registry: registryReferenceSchema.describe('the remote to push to (push mode)'),
    filters: z.array(filterSchema).max(32).default([]),
    dest_namespace: z.string().max(255).nullable().optional().describe('replaces the leading path components'),
    dest_namespace_replace_count: z
      .number()
      .int()
      .min(-1)
      .max(16)
      .default(0)
      .describe('how many leading path components dest_namespace replaces: 0 prefixes, -1 all but the last'),
    trigger: z
      .strictObject({
        type: z.enum(triggerTypes),
        trigger_settings: z
          .strictObject({ cron: z.string().max(255).optional().describe('6 fields, seconds first: "0 0 3 * * *"') })
          .optional(),
      })
      .default({ type: 'manual' }),
    override: z.boolean().default(true).describe('replace a destination tag that names other content'),
    deletion: z.boolean().default(false).describe('push mode: delete on the remote what is deleted here'),
    concurrency: z.number().int().min(1).max(64).default(4).describe('artifacts copied at once'),
    speed: z.number().int().min(0).default(0).describe('bytes per second for the whole execution; 0: no limit'),
  })
  .refine((input) => (input.src_registry ? 1 : 0) + (input.dest_registry ? 1 : 0) === 1, {
    message: 'give exactly one of src_registry (pull mode) and dest_registry (push mode)',
  });

export type PolicyInputBody = z.output<typeof policyInputSchema>;

export const policySchema = z.object({
  id: z.number().int(),
  name: z.string(),
  description: z.string(),
  enabled: z.boolean(),
  direction: z.enum(['push', 'pull']),
  src_registry: z.object({ id: z.number().int() }).nullable(),
  dest_registry: z.object({ id: z.number().int() }).nullable(),
  filters: z.array(z.object({ type: z.string(), value: z.string(), decoration: z.string() })),
  dest_namespace: z.string().nullable(),
  dest_namespace_replace_count: z.number().int(),
  trigger: z.object({
    type: z.enum(triggerTypes),
    trigger_settings: z.object({ cron: z.string().optional() }),
  }),
  override: z.boolean(),
  deletion: z.boolean(),
  concurrency: z.number().int(),
  speed: z.number().int(),
  creator: z.string().nullable(),
  creation_time: timestampSchema,
  update_time: timestampSchema,
});

export const startExecutionSchema = z.strictObject({ policy_id: z.number().int().min(1) });

export const executionQuerySchema = z.object({
  policy_id: z.coerce.number().int().min(1).optional(),
  status: z.enum(executionStatuses).optional(),
  trigger: z.enum(triggerTypes).optional(),
});

export const taskQuerySchema = z.object({ status: z.enum(taskStatuses).optional() });

export const executionSchema = z.object({
  id: z.number().int(),
  policy_id: z.number().int(),
  status: z.enum(executionStatuses),
  status_text: z.string(),
  trigger: z.enum(triggerTypes),
  stop_requested: z.boolean(),
  instance: z.string().nullable().describe('the instance that runs or ran it'),
  creation_time: timestampSchema,
  start_time: timestampSchema.nullable(),
  end_time: timestampSchema.nullable(),
  total: z.number().int(),
  pending: z.number().int(),
  running: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  stopped: z.number().int(),
  skipped: z.number().int(),
  bytes: z.number().int().describe('bytes copied by its tasks'),
});

export const taskSchema = z.object({
  id: z.number().int(),
  execution_id: z.number().int(),
  operation: z.enum(['copy', 'deletion']),
  resource_type: z.literal('artifact'),
  src_resource: z.string().describe('repository:tag or repository@digest where it comes from'),
  dst_resource: z.string(),
  digest: z.string().nullable(),
  status: z.enum(taskStatuses),
  attempts: z.number().int(),
  bytes: z.number().int().describe('bytes transferred (blobs and manifests)'),
  duration_ms: z.number().int().nullable(),
  error: z.string().nullable(),
  creation_time: timestampSchema,
  start_time: timestampSchema.nullable(),
  end_time: timestampSchema.nullable(),
});

export function endpointBody(endpoint: RegistryEndpoint): z.output<typeof endpointSchema> {
  return {
    id: endpoint.id,
    name: endpoint.name,
    url: endpoint.url,
    description: endpoint.description,
    type: 'docker-registry',
    credential:
      endpoint.credential.type === 'basic'
        ? { type: 'basic', access_key: endpoint.credential.accessKey, has_secret: endpoint.credential.hasSecret }
        : { type: 'none', has_secret: false },
    ca_certificate: endpoint.caCertificate ?? null,
    insecure: endpoint.insecure,
    creation_time: timestamp(endpoint.createdAt),
    update_time: timestamp(endpoint.updatedAt),
  };
}

export function policyBody(policy: ReplicationPolicy): z.output<typeof policySchema> {
  const remote = { id: policy.remoteId };
  return {
    id: policy.id,
    name: policy.name,
    description: policy.description,
    enabled: policy.enabled,
    direction: policy.direction,
    src_registry: policy.direction === 'pull' ? remote : null,
    dest_registry: policy.direction === 'push' ? remote : null,
    filters: policy.filters,
    dest_namespace: policy.destNamespace ?? null,
    dest_namespace_replace_count: policy.destNamespaceReplaceCount,
    trigger: {
      type: policy.trigger.type,
      trigger_settings: policy.trigger.cron === undefined ? {} : { cron: policy.trigger.cron },
    },
    override: policy.override,
    deletion: policy.deletion,
    concurrency: policy.concurrency,
    speed: policy.speed,
    creator: policy.createdBy ?? null,
    creation_time: timestamp(policy.createdAt),
    update_time: timestamp(policy.updatedAt),
  };
}

export function executionBody(execution: ExecutionView): z.output<typeof executionSchema> {
  return {
    id: execution.id,
    policy_id: execution.policyId,
    status: execution.status,
    status_text: execution.statusText,
    trigger: execution.trigger,
    stop_requested: execution.stopRequested,
    instance: execution.instance ?? null,
    creation_time: timestamp(execution.createdAt),
    start_time: execution.startedAt === undefined ? null : timestamp(execution.startedAt),
    end_time: execution.endedAt === undefined ? null : timestamp(execution.endedAt),
    total: execution.total,
    pending: execution.pending,
    running: execution.running,
    succeeded: execution.succeeded,
    failed: execution.failed,
    stopped: execution.stopped,
    skipped: execution.skipped,
    bytes: execution.bytes,
  };
}

export function taskBody(task: ReplicationTask): z.output<typeof taskSchema> {
  return {
    id: task.id,
    execution_id: task.executionId,
    operation: task.operation,
    resource_type: 'artifact',
    src_resource: task.srcResource,
    dst_resource: task.dstResource,
    digest: task.digest ?? null,
    status: task.status,
    attempts: task.attempts,
    bytes: task.bytes,
    duration_ms:
      task.startedAt === undefined || task.endedAt === undefined ? null : Math.max(0, task.endedAt - task.startedAt),
    error: task.error ?? null,
    creation_time: timestamp(task.createdAt),
    start_time: task.startedAt === undefined ? null : timestamp(task.startedAt),
    end_time: task.endedAt === undefined ? null : timestamp(task.endedAt),
  };
}
