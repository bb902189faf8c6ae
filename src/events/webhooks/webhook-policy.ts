import { webhookEventType } from '../delivery/event-types.ts';
import { eventProject, type RegistryEvent } from '../event.ts';
import { type Subscriber, webhookKey } from '../subscriber.ts';

export const webhookFormats = ['harbor', 'cloudevents'] as const;
export type WebhookFormat = (typeof webhookFormats)[number];

/**
 * A project's webhook: events of the chosen types in the project, POSTed to `url` in Harbor's
 * payload or as CloudEvents. A policy without PULL_ARTIFACT opts out of pull events.
 */
export interface WebhookPolicy {
  id: number;
  projectId: number;
  project: string;
  name: string;
  description: string;
  url: string;
  format: WebhookFormat;
  eventTypes: string[];
  /** Sent as the Authorization header. */
  authHeader: string | undefined;
  /** The HMAC-SHA256 key of the signature header. */
  secret: string | undefined;
  skipCertVerify: boolean;
  enabled: boolean;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface WebhookPolicyInput {
  name: string;
  description: string;
  url: string;
  format: WebhookFormat;
  eventTypes: string[];
  authHeader: string | undefined;
  secret: string | undefined;
  skipCertVerify: boolean;
  enabled: boolean;
}

/** How long a webhook may answer, and when its circuit opens: webhooks share these. */
export interface WebhookDeliverySettings {
  timeoutMs: number;
}

/** Consecutive failures that open a webhook's circuit, and how long it stays open. */
const webhookBreaker = { threshold: 5, openMs: 30_000 };

export function webhookSubscriber(policy: WebhookPolicy, settings: WebhookDeliverySettings): Subscriber {
  const types = new Set(policy.eventTypes);
  const subscriber: Subscriber = {
    key: webhookKey(policy.id),
    kind: 'webhook',
    name: policy.name,
    webhookId: policy.id,
    project: { id: policy.projectId, name: policy.project },
    url: policy.url,
    format: policy.format,
    headers: policy.authHeader === undefined ? {} : { Authorization: [policy.authHeader] },
    timeoutMs: settings.timeoutMs,
    insecure: policy.skipCertVerify,
    breaker: webhookBreaker,
    wants: (event: RegistryEvent) =>
      policy.enabled && eventProject(event) === policy.project && types.has(webhookEventType(event.action)),
  };
  if (policy.secret !== undefined) subscriber.secret = policy.secret;
  return subscriber;
}
