import { randomUUID } from 'node:crypto';
import { currentRequestContext, type RequestContext } from '../observability/request-context.ts';
import type { EventAction, EventActor, EventDetails, EventTarget, RegistryEvent } from './event.ts';
import type { InstanceIdentity } from './instance-identity.ts';
import { requestDetailsOf } from './request-details.ts';

export interface NewEvent {
  action: EventAction;
  target?: EventTarget;
  details?: EventDetails;
  /** Who acted; the request's caller (or background job) when absent. */
  actor?: EventActor;
  /** The request the event is about; the current request context when absent. */
  context?: RequestContext;
}

/**
 * Stamps events with an id, the time, the caller and the request from the current request context,
 * and this instance as their source.
 */
export class EventFactory {
  constructor(
    private readonly instance: InstanceIdentity,
    /** `http.host`: the base of content URLs; the address the client used when unset. */
    private readonly externalUrl: string | undefined,
  ) {}

  create(input: NewEvent): RegistryEvent {
    const context = input.context ?? currentRequestContext();
    const details = requestDetailsOf(context);
    const actor: EventActor = input.actor ?? {
      name: context?.actor?.name ?? '',
      kind: context?.actor?.kind ?? (context === undefined ? 'system' : 'anonymous'),
    };
    if (actor.address === undefined && context?.sourceAddress !== undefined) actor.address = context.sourceAddress;
    const event: RegistryEvent = {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action: input.action,
      target: { ...input.target },
      actor,
      source: { instanceID: this.instance.instanceID, addr: this.instance.addr },
    };
    if (context !== undefined) {
      event.request = { id: context.requestId };
      if (context.sourceAddress !== undefined) event.request.addr = context.sourceAddress;
      if (details !== undefined) {
        event.request.host = details.host;
        event.request.method = details.method;
      }
      if (context.userAgent !== undefined) event.request.useragent = context.userAgent;
    }
    if (input.details !== undefined) event.details = input.details;
    return event;
  }

  /** `<base>/v2/<repository>/manifests/<digest>` or `.../blobs/<digest>`, when a base is known. */
  contentUrl(
    kind: 'manifests' | 'blobs',
    repository: string,
    digest: string,
    context: RequestContext | undefined = currentRequestContext(),
  ): string | undefined {
    const base = this.externalUrl ?? requestDetailsOf(context)?.baseUrl;
    if (base === undefined) return undefined;
    return `${base.replace(/\/+$/, '')}/v2/${repository}/${kind}/${digest}`;
  }
}
