import type { Transaction } from 'kysely';
import type { Database } from '../metadata/schema.ts';
import { eventProject, type RegistryEvent } from './event.ts';
import type { Subscriber } from './subscriber.ts';
import { type WebhookDeliverySettings, webhookSubscriber } from './webhooks/webhook-policy.ts';
import type { WebhookPolicyStore } from './webhooks/webhook-policy-store.ts';

/**
 * Every subscriber there is: the configured endpoints (the same on every instance) and the
 * webhook policies in the database, read where they are needed so that a policy created on one
 * instance is honoured by all of them at once.
 */
export class SubscriberDirectory {
  private readonly endpointsByKey: Map<string, Subscriber>;

  constructor(
    readonly endpoints: readonly Subscriber[],
    /** Undefined outside projects mode, where there are no webhook policies to read. */
    private readonly webhooks: WebhookPolicyStore | undefined,
    private readonly webhookSettings: WebhookDeliverySettings,
  ) {
    this.endpointsByKey = new Map(endpoints.map((endpoint) => [endpoint.key, endpoint]));
  }

  /** The subscribers that may want any of `events`: every endpoint, and the enabled policies of their projects. */
  async candidates(trx: Transaction<Database>, events: readonly RegistryEvent[]): Promise<Subscriber[]> {
    if (this.webhooks === undefined) return [...this.endpoints];
    const projects = new Set<string>();
    for (const event of events) {
      const project = eventProject(event);
      if (project !== undefined) projects.add(project);
    }
    const policies = await this.webhooks.enabledFor(trx, [...projects]);
    return [...this.endpoints, ...policies.map((policy) => webhookSubscriber(policy, this.webhookSettings))];
  }

  endpoint(key: string): Subscriber | undefined {
    return this.endpointsByKey.get(key);
  }

  /** The policies behind claimed deliveries, as they stand now; deleted ones are missing. */
  async webhooksById(ids: readonly number[]): Promise<Map<number, Subscriber>> {
    const policies = (await this.webhooks?.findByIds(ids)) ?? [];
    return new Map(policies.map((policy) => [policy.id, webhookSubscriber(policy, this.webhookSettings)]));
  }
}
