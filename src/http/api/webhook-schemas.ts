import { z } from 'zod';
import { webhookEventTypes } from '../../events/delivery/event-types.ts';
import { type DeliveryRecord, deliveryStates } from '../../events/outbox/outbox-store.ts';
import { type WebhookPolicy, webhookFormats } from '../../events/webhooks/webhook-policy.ts';
import { pageQuerySchema, timestamp, timestampSchema } from './common-schemas.ts';
import { projectNameSchema } from './project-schemas.ts';

const idSchema = z.coerce
  .number()
  .int()
  .min(1)
  .max(2 ** 31 - 1);
const deliveryIdSchema = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const webhookPathSchema = z.object({ name: projectNameSchema, id: idSchema });
export const webhookDeliveryPathSchema = z.object({
  name: projectNameSchema,
  id: idSchema,
  delivery: deliveryIdSchema,
});

const urlSchema = z
  .string()
  .max(2048)
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), {
    message: 'expected an http:// or https:// URL',
  })
  .meta({ example: 'https://ci.example.com/hooks/registry' });

// Header values travel as they are: no control characters.
const headerValueSchema = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^[\t\x20-\x7e\x80-\xff]+$/, { message: 'a header value has no control characters' });

const policyFields = {
  name: z.string().min(1).max(255),
  description: z.string().max(1024).default(''),
  url: urlSchema,
  format: z.enum(webhookFormats).default('harbor').describe("Harbor's payload (harbor) or CloudEvents 1.0 JSON"),
  event_types: z
    .array(z.enum(webhookEventTypes as [string, ...string[]]))
    .min(1)
    .describe('the events to send; leave out PULL_ARTIFACT to receive no pull events'),
  auth_header: headerValueSchema.nullable().optional().describe('sent as the Authorization header'),
  secret: z
    .string()
    .min(16)
    .max(1024)
    .nullable()
    .optional()
    .describe('key of the X-Wharf-Signature-256 header (HMAC-SHA256 of the body)'),
  skip_cert_verify: z.boolean().default(false),
  enabled: z.boolean().default(true),
};

export const newWebhookSchema = z.strictObject(policyFields);

/** A replacement; `auth_header` and `secret` left out keep their values, null removes them. */
export const webhookChangesSchema = z.strictObject(policyFields);

export const webhookSchema = z.object({
  id: z.number().int(),
  project: z.string(),
  name: z.string(),
  description: z.string(),
  url: z.string(),
  format: z.enum(webhookFormats),
  event_types: z.array(z.string()),
  auth_header_set: z.boolean().describe('whether an Authorization header is sent (its value is never shown)'),
  secret_set: z.boolean().describe('whether requests are signed (the secret is never shown)'),
  skip_cert_verify: z.boolean(),
  enabled: z.boolean(),
  created_by: z.string().nullable(),
  created_at: timestampSchema,
  updated_at: timestampSchema,
});

export function webhookBody(policy: WebhookPolicy): z.output<typeof webhookSchema> {
  return {
    id: policy.id,
    project: policy.project,
    name: policy.name,
    description: policy.description,
    url: policy.url,
    format: policy.format,
    event_types: policy.eventTypes,
    auth_header_set: policy.authHeader !== undefined,
    secret_set: policy.secret !== undefined,
    skip_cert_verify: policy.skipCertVerify,
    enabled: policy.enabled,
    created_by: policy.createdBy,
    created_at: timestamp(policy.createdAt),
    updated_at: timestamp(policy.updatedAt),
  };
}

export const deliveryQuerySchema = pageQuerySchema.extend({
  state: z.enum(deliveryStates).optional().describe('only deliveries in this state'),
});

export const deliverySchema = z.object({
  id: z.number().int(),
  event_id: z.string().describe('the event id, which receivers deduplicate on'),
  action: z.string().meta({ example: 'manifest.pushed' }),
  state: z.enum(deliveryStates),
  attempts: z.number().int(),
  last_status: z.number().int().nullable().describe("the receiver's last HTTP status, null when it never answered"),
  last_error: z.string().nullable(),
  latency_ms: z.number().int().nullable().describe('how long the last attempt took'),
  created_at: timestampSchema,
  updated_at: timestampSchema,
  next_attempt_at: timestampSchema.nullable().describe('when a pending delivery is tried next'),
  delivered_at: timestampSchema.nullable(),
});

export function deliveryBody(record: DeliveryRecord): z.output<typeof deliverySchema> {
  return {
    id: record.id,
    event_id: record.eventId,
    action: record.action,
    state: record.state,
    attempts: record.attempts,
    last_status: record.lastStatus,
    last_error: record.lastError,
    latency_ms: record.lastLatencyMs,
    created_at: timestamp(record.createdAt),
    updated_at: timestamp(record.updatedAt),
    next_attempt_at: record.state === 'pending' ? timestamp(record.nextAttemptAt) : null,
    delivered_at: record.deliveredAt === null ? null : timestamp(record.deliveredAt),
  };
}

export const redeliveredSchema = z.object({ redelivered: z.number().int() });
