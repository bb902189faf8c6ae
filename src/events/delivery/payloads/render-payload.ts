import type { RegistryEvent } from '../../event.ts';
import type { Subscriber } from '../../subscriber.ts';
import { cloudEvent, cloudEventsMediaType } from './cloud-events.ts';
import { distributionEnvelope, distributionEventsMediaType } from './distribution-envelope.ts';
import { harborPayload, type RepositoryFacts } from './harbor-payload.ts';

export interface RenderedPayload {
  contentType: string;
  body: Buffer;
}

/** Whether one request may carry several events in the subscriber's format. */
export function carriesSeveral(subscriber: Subscriber): boolean {
  return subscriber.format === 'distribution';
}

/**
 * The request body for `events` in the subscriber's format: Distribution's envelope holds any
 * number; Harbor's payload and a structured CloudEvent hold exactly one.
 */
export function renderPayload(
  subscriber: Subscriber,
  events: readonly RegistryEvent[],
  facts: (repository: string) => RepositoryFacts | undefined,
): RenderedPayload {
  const factsOf = (event: RegistryEvent) =>
    event.target.repository === undefined ? undefined : facts(event.target.repository);
  switch (subscriber.format) {
    case 'distribution':
      return json(distributionEventsMediaType, distributionEnvelope(events));
    case 'harbor':
      return json('application/json', harborPayload(single(events), factsOf(single(events))));
    case 'cloudevents':
      return json(cloudEventsMediaType, cloudEvent(single(events), subscriber, factsOf(single(events))));
  }
}

function single(events: readonly RegistryEvent[]): RegistryEvent {
  const [event] = events;
  if (event === undefined || events.length !== 1) throw new Error('this format carries exactly one event');
  return event;
}

function json(contentType: string, value: object): RenderedPayload {
  return { contentType, body: Buffer.from(JSON.stringify(value)) };
}
