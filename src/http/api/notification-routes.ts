import { z } from 'zod';
import type { Principal } from '../../auth/principal.ts';
import type { EventsAdministration } from '../../events/events-administration.ts';
import type { Subscriber } from '../../events/subscriber.ts';
import { forbidden, notFound } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageHeaderDocs } from './common-schemas.ts';
import { pageHeaders, pageWindow } from './paging.ts';
import { deliveryBody, deliveryQuerySchema, deliverySchema, redeliveredSchema } from './webhook-schemas.ts';

const tag = 'notifications';

const endpointPathSchema = z.object({ endpoint: z.string().min(1).max(255) });
const endpointDeliveryPathSchema = endpointPathSchema.extend({
  delivery: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

const endpointSchema = z.object({
  name: z.string(),
  url: z.string(),
  format: z.enum(['distribution', 'harbor', 'cloudevents']),
  deliveries: z.object({ pending: z.number().int(), delivered: z.number().int(), dead: z.number().int() }),
});

/**
 * The notification endpoints of the configuration (`notifications.endpoints`): their delivery
 * logs and redelivery, for system administrators.
 */
export function notificationRoutes(events: EventsAdministration): ApiRoute[] {
  const { outbox } = events;

  function endpointOf(principal: Principal, name: string): Subscriber {
    if (!principal.admin) throw forbidden('only administrators may see notification endpoints');
    const endpoint = events.endpoints.find((candidate) => candidate.name === name);
    if (!endpoint) throw notFound(`notification endpoint ${name} is not configured`);
    return endpoint;
  }

  return [
    defineRoute({
      method: 'GET',
      path: '/notifications/endpoints',
      operationId: 'listNotificationEndpoints',
      summary: 'The configured notification endpoints, with their deliveries by state',
      tag,
      anonymous: false,
      responses: [{ status: 200, description: 'the endpoints', schema: z.array(endpointSchema) }],
      async handler({ principal }) {
        if (!principal.admin) throw forbidden('only administrators may see notification endpoints');
        const body = await Promise.all(
          events.endpoints.map(async (endpoint) => ({
            name: endpoint.name,
            url: endpoint.url,
            format: endpoint.format,
            deliveries: await outbox.countByState(endpoint.key),
          })),
        );
        return { status: 200, body };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/notifications/endpoints/{endpoint}/deliveries',
      operationId: 'listNotificationDeliveries',
      summary: "The endpoint's delivery log, newest first: state, attempts, last status, latency",
      tag,
      anonymous: false,
      params: endpointPathSchema,
      query: deliveryQuerySchema,
      responses: [
        { status: 200, description: 'a page of deliveries', schema: z.array(deliverySchema), headers: pageHeaderDocs },
      ],
      async handler({ request, principal, params, query }) {
        const endpoint = endpointOf(principal, params.endpoint);
        const page = await outbox.list(endpoint.key, query.state, pageWindow(query));
        return {
          status: 200,
          body: page.deliveries.map(deliveryBody),
          headers: pageHeaders(request, query, page.total),
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/notifications/endpoints/{endpoint}/deliveries/{delivery}/redeliver',
      operationId: 'redeliverNotification',
      summary: 'Send one delivery again, from its first attempt, whatever its state',
      tag,
      anonymous: false,
      params: endpointDeliveryPathSchema,
      responses: [{ status: 202, description: 'queued for delivery' }],
      async handler({ principal, params }) {
        const endpoint = endpointOf(principal, params.endpoint);
        if (!(await outbox.redeliver(endpoint.key, params.delivery))) {
          throw notFound(`delivery ${params.delivery} of endpoint ${params.endpoint} does not exist`);
        }
        events.wake();
        return { status: 202 };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/notifications/endpoints/{endpoint}/deliveries/redeliver',
      operationId: 'redeliverNotificationDeadLetters',
      summary: 'Send every dead letter of the endpoint again',
      tag,
      anonymous: false,
      params: endpointPathSchema,
      responses: [{ status: 202, description: 'how many were queued', schema: redeliveredSchema }],
      async handler({ principal, params }) {
        const endpoint = endpointOf(principal, params.endpoint);
        const redelivered = await outbox.redeliverDead(endpoint.key);
        if (redelivered > 0) events.wake();
        return { status: 202, body: { redelivered } };
      },
    }),
  ];
}
