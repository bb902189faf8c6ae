import type { RegistryEvent } from '../../event.ts';
import type { Subscriber } from '../../subscriber.ts';
import { cloudEventType } from '../event-types.ts';
import { harborEventData, type RepositoryFacts } from './harbor-payload.ts';

export const cloudEventsMediaType = 'application/cloudevents+json; charset=utf-8';

/**
 * A CloudEvents 1.0 event in structured JSON mode, laid out as Harbor sends them: Harbor's
 * `event_data` as `data`, the request id and the operator as extension attributes, and the policy
 * (or endpoint) as the source.
 */
export function cloudEvent(event: RegistryEvent, subscriber: Subscriber, facts: RepositoryFacts | undefined): object {
  const source =
    subscriber.kind === 'webhook' && subscriber.project !== undefined
      ? `/projects/${subscriber.project.id}/webhook/policies/${subscriber.webhookId}`
      : `/notifications/endpoints/${encodeURIComponent(subscriber.name)}`;
  const rendered: Record<string, unknown> = {
    specversion: '1.0',
    id: event.id,
  };
  if (event.request !== undefined) rendered.requestid = event.request.id;
  Object.assign(rendered, {
    source,
    type: cloudEventType(event.action),
    datacontenttype: 'application/json',
    time: event.timestamp,
    data: harborEventData(event, facts),
    operator: event.actor.name,
  });
  return rendered;
}
