import type { RequestContext } from '../observability/request-context.ts';

/** What an event says about the request beyond the request context: Distribution's request record. */
export interface RequestDetails {
  /** The Host the client addressed. */
  host: string;
  method: string;
  /** `scheme://host` the client used, for the content URLs in events. */
  baseUrl: string;
}

const details = new WeakMap<RequestContext, RequestDetails>();

/** Called by the HTTP layer once per request, beside the request context it belongs to. */
export function rememberRequestDetails(context: RequestContext, value: RequestDetails): void {
  details.set(context, value);
}

export function requestDetailsOf(context: RequestContext | undefined): RequestDetails | undefined {
  return context === undefined ? undefined : details.get(context);
}
