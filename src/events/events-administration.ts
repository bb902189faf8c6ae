import type { OutboxStore } from './outbox/outbox-store.ts';
import type { Subscriber } from './subscriber.ts';
import type { WebhookPolicyStore } from './webhooks/webhook-policy-store.ts';

/** What the management API works with: webhook policies, the delivery logs, redelivery. */
export interface EventsAdministration {
  policies: WebhookPolicyStore;
  outbox: OutboxStore;
  /** The configured notification endpoints (disabled ones left out). */
  endpoints: readonly Subscriber[];
  /** Tells the delivery workers that deliveries became due (a redelivery). */
  wake(): void;
}
