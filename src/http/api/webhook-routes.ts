import { z } from 'zod';
import type { Principal } from '../../auth/principal.ts';
import type { EventsAdministration } from '../../events/events-administration.ts';
import { webhookKey } from '../../events/subscriber.ts';
import type { WebhookPolicy, WebhookPolicyInput } from '../../events/webhooks/webhook-policy.ts';
import { conflict, notFound } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageHeaderDocs, pageQuerySchema } from './common-schemas.ts';
import { apiPrefix } from './management-context.ts';
import { pageHeaders, pageWindow } from './paging.ts';
import type { ProjectAccess } from './project-access.ts';
import { projectPathSchema } from './project-schemas.ts';
import {
  deliveryBody,
  deliveryQuerySchema,
  deliverySchema,
  newWebhookSchema,
  redeliveredSchema,
  webhookBody,
  webhookChangesSchema,
  webhookDeliveryPathSchema,
  webhookPathSchema,
  webhookSchema,
} from './webhook-schemas.ts';

const tag = 'webhooks';

type PolicyBody = z.output<typeof newWebhookSchema>;

/**
 * A project's webhook policies, their delivery logs and redelivery. Project admins (and system
 * administrators) manage them: a policy holds the receiver's credentials.
 */
export function webhookRoutes(access: ProjectAccess, events: EventsAdministration): ApiRoute[] {
  const { policies, outbox } = events;

  async function projectId(principal: Principal, name: string): Promise<number> {
    return (await access.require(principal, name, 'project:update')).project.id;
  }

  async function policyOf(principal: Principal, name: string, id: number): Promise<WebhookPolicy> {
    const policy = await policies.find(await projectId(principal, name), id);
    if (!policy) throw notFound(`webhook ${id} of project ${name} does not exist`);
    return policy;
  }

  return [
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/webhooks',
      operationId: 'listWebhooks',
      summary: "The project's webhook policies",
      tag,
      anonymous: false,
      params: projectPathSchema,
      query: pageQuerySchema,
      responses: [
        { status: 200, description: 'a page of policies', schema: z.array(webhookSchema), headers: pageHeaderDocs },
      ],
      async handler({ request, principal, params, query }) {
        const id = await projectId(principal, params.name);
        const [total, page] = await Promise.all([policies.count(id), policies.list(id, pageWindow(query))]);
        return { status: 200, body: page.map(webhookBody), headers: pageHeaders(request, query, total) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects/{name}/webhooks',
      operationId: 'createWebhook',
      summary: 'Create a webhook policy: events of the chosen types in the project go to its URL',
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: newWebhookSchema,
      responses: [
        { status: 201, description: 'created', schema: webhookSchema, headers: { Location: 'the new policy' } },
        { status: 409, description: 'the project has a policy of that name' },
      ],
      async handler({ principal, params, body }) {
        const created = await policies.create(
          await projectId(principal, params.name),
          inputOf(body, undefined),
          principal.name,
        );
        if (!created) throw conflict(`project ${params.name} has a webhook named ${body.name} already`);
        return {
          status: 201,
          body: webhookBody(created),
          headers: { Location: `${apiPrefix}/projects/${params.name}/webhooks/${created.id}` },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/webhooks/{id}',
      operationId: 'getWebhook',
      summary: 'One webhook policy',
      tag,
      anonymous: false,
      params: webhookPathSchema,
      responses: [{ status: 200, description: 'the policy', schema: webhookSchema }],
      async handler({ principal, params }) {
        return { status: 200, body: webhookBody(await policyOf(principal, params.name, params.id)) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/projects/{name}/webhooks/{id}',
      operationId: 'updateWebhook',
      summary: 'Replace a webhook policy; auth_header and secret left out keep their values, null removes them',
      tag,
      anonymous: false,
      params: webhookPathSchema,
      body: webhookChangesSchema,
      responses: [
        { status: 200, description: 'the changed policy', schema: webhookSchema },
        { status: 409, description: 'another policy of the project has that name' },
      ],
      async handler({ principal, params, body }) {
        const current = await policyOf(principal, params.name, params.id);
        const updated = await policies.update(current.projectId, current.id, inputOf(body, current));
        if (updated === 'conflict') throw conflict(`project ${params.name} has a webhook named ${body.name} already`);
        if (!updated) throw notFound(`webhook ${params.id} of project ${params.name} does not exist`);
        return { status: 200, body: webhookBody(updated) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/projects/{name}/webhooks/{id}',
      operationId: 'deleteWebhook',
      summary: 'Delete a webhook policy and its deliveries, pending ones included',
      tag,
      anonymous: false,
      params: webhookPathSchema,
      responses: [{ status: 204, description: 'deleted' }],
      async handler({ principal, params }) {
        const current = await policyOf(principal, params.name, params.id);
        await policies.delete(current.projectId, current.id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/webhooks/{id}/deliveries',
      operationId: 'listWebhookDeliveries',
      summary: "The policy's delivery log, newest first: state, attempts, last status, latency",
      tag,
      anonymous: false,
      params: webhookPathSchema,
      query: deliveryQuerySchema,
      responses: [
        { status: 200, description: 'a page of deliveries', schema: z.array(deliverySchema), headers: pageHeaderDocs },
      ],
      async handler({ request, principal, params, query }) {
        const policy = await policyOf(principal, params.name, params.id);
        const page = await outbox.list(webhookKey(policy.id), query.state, pageWindow(query));
        return {
          status: 200,
          body: page.deliveries.map(deliveryBody),
          headers: pageHeaders(request, query, page.total),
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects/{name}/webhooks/{id}/deliveries/{delivery}/redeliver',
      operationId: 'redeliverWebhookDelivery',
      summary: 'Send one delivery again, from its first attempt, whatever its state',
      tag,
      anonymous: false,
      params: webhookDeliveryPathSchema,
      responses: [{ status: 202, description: 'queued for delivery' }],
      async handler({ principal, params }) {
        const policy = await policyOf(principal, params.name, params.id);
        if (!(await outbox.redeliver(webhookKey(policy.id), params.delivery))) {
          throw notFound(`delivery ${params.delivery} of webhook ${params.id} does not exist`);
        }
        events.wake();
        return { status: 202 };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects/{name}/webhooks/{id}/deliveries/redeliver',
      operationId: 'redeliverWebhookDeadLetters',
      summary: 'Send every dead letter of the policy again',
      tag,
      anonymous: false,
      params: webhookPathSchema,
      responses: [{ status: 202, description: 'how many were queued', schema: redeliveredSchema }],
      async handler({ principal, params }) {
        const policy = await policyOf(principal, params.name, params.id);
        const redelivered = await outbox.redeliverDead(webhookKey(policy.id));
        if (redelivered > 0) events.wake();
        return { status: 202, body: { redelivered } };
      },
    }),
  ];
}

function inputOf(body: PolicyBody, current: WebhookPolicy | undefined): WebhookPolicyInput {
  return {
    name: body.name,
    description: body.description,
    url: body.url,
    format: body.format,
    eventTypes: [...new Set(body.event_types)],
    authHeader: body.auth_header === undefined ? current?.authHeader : (body.auth_header ?? undefined),
    secret: body.secret === undefined ? current?.secret : (body.secret ?? undefined),
    skipCertVerify: body.skip_cert_verify,
    enabled: body.enabled,
  };
}
