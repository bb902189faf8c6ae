import type { NotificationEndpointConfig } from '../config/config.ts';
import { distributionAction } from './delivery/event-types.ts';
import type { RegistryEvent } from './event.ts';
import { endpointKey, type Subscriber } from './subscriber.ts';

/**
 * `notifications.endpoints` as subscribers, disabled ones left out. An endpoint in Distribution's
 * format gets the events Distribution sends (pushes, pulls, mounts, deletes) and nothing else, so
 * its receivers see what they always saw. `ignore.actions` names Distribution's actions (`pull`)
 * or Wharf's (`manifest.pulled`); `ignore.mediatypes` and `ignoredmediatypes` the target's type.
 */
export function endpointSubscribers(endpoints: readonly NotificationEndpointConfig[]): Subscriber[] {
  return endpoints.filter((endpoint) => !endpoint.disabled).map(endpointSubscriber);
}

function endpointSubscriber(endpoint: NotificationEndpointConfig): Subscriber {
  const ignoredTypes = new Set([...endpoint.ignoredmediatypes, ...endpoint.ignore.mediatypes]);
  const ignoredActions = new Set(endpoint.ignore.actions);
  const wants = (event: RegistryEvent): boolean => {
    const distribution = distributionAction(event.action);
    if (endpoint.format === 'distribution' && distribution === undefined) return false;
    if (ignoredActions.has(event.action) || (distribution !== undefined && ignoredActions.has(distribution))) {
      return false;
    }
    const mediaType = event.target.mediaType;
    return mediaType === undefined || !ignoredTypes.has(mediaType);
  };
  const subscriber: Subscriber = {
    key: endpointKey(endpoint.name),
    kind: 'endpoint',
    name: endpoint.name,
    url: endpoint.url,
    format: endpoint.format,
    headers: endpoint.headers,
    timeoutMs: endpoint.timeout,
    insecure: false,
    breaker: { threshold: endpoint.threshold, openMs: endpoint.backoff },
    wants,
  };
  if (endpoint.secret !== undefined) subscriber.secret = endpoint.secret;
  return subscriber;
}
