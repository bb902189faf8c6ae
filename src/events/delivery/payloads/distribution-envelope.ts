import type { RegistryEvent } from '../../event.ts';
import { distributionAction } from '../event-types.ts';

/** Distribution's envelope media type; receivers written for `registry:2` check it. */
export const distributionEventsMediaType = 'application/vnd.docker.distribution.events.v2+json';

/**
 * Events in Distribution's notification format (notifications/event.go): `{"events":[...]}`, each
 * with id, timestamp, action, target, request, actor and source, empty fields left out as
 * Distribution leaves them out.
 */
export function distributionEnvelope(events: readonly RegistryEvent[]): { events: object[] } {
  return { events: events.map(distributionEvent) };
}

function distributionEvent(event: RegistryEvent): object {
  const { target } = event;
  const rendered: Record<string, unknown> = {};
  if (target.mediaType !== undefined) rendered.mediaType = target.mediaType;
  if (target.size !== undefined) rendered.size = target.size;
  if (target.digest !== undefined) rendered.digest = target.digest;
  // Distribution repeats the size as `length` for older receivers.
  if (target.size !== undefined) rendered.length = target.size;
  if (target.repository !== undefined) rendered.repository = target.repository;
  if (target.url !== undefined) rendered.url = target.url;
  if (target.tag !== undefined) rendered.tag = target.tag;
  const request = event.request;
  return {
    id: event.id,
    timestamp: event.timestamp,
    action: distributionAction(event.action),
    target: rendered,
    // id, method and useragent are always present in Distribution's request record.
    request: {
      id: request?.id ?? '',
      ...(request?.addr === undefined ? {} : { addr: request.addr }),
      ...(request?.host === undefined ? {} : { host: request.host }),
      method: request?.method ?? '',
      useragent: request?.useragent ?? '',
    },
    actor: event.actor.name === '' ? {} : { name: event.actor.name },
    source: { addr: event.source.addr, instanceID: event.source.instanceID },
  };
}
