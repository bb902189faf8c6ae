import { z } from 'zod';
import type { PolicyInput, ReplicationService } from '../../replication/policies/replication-service.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageHeaderDocs, pageQuerySchema } from './common-schemas.ts';
import { pageHeaders, pageWindow } from './paging.ts';
import {
  replicationErrorResponses as errors,
  requireReplicationAdmin,
  translateReplicationErrors,
} from './replication-api.ts';
import {
  idPathSchema,
  type PolicyInputBody,
  policyBody,
  policyInputSchema,
  policySchema,
} from './replication-schemas.ts';

/** Replication policies (Harbor's /replication/policies): what to copy, between here and which remote, when. */
export function replicationPolicyRoutes(service: ReplicationService): ApiRoute[] {
  const tag = 'replication';
  return [
    defineRoute({
      method: 'GET',
      path: '/replication/policies',
      operationId: 'listReplicationPolicies',
      summary: 'List replication policies',
      tag,
      anonymous: false,
      query: pageQuerySchema,
      responses: [
        { status: 200, description: 'a page of policies', schema: z.array(policySchema), headers: pageHeaderDocs },
        errors.unauthorized,
        errors.forbidden,
      ],
      async handler({ request, principal, query }) {
        requireReplicationAdmin(principal);
        const { total, items } = await service.listPolicies(pageWindow(query));
        return { status: 200, body: items.map(policyBody), headers: pageHeaders(request, query, total) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/replication/policies',
      operationId: 'createReplicationPolicy',
      summary: 'Create a replication policy',
      tag,
      anonymous: false,
      body: policyInputSchema,
      responses: [
        { status: 201, description: 'created', schema: policySchema, headers: { Location: 'the new policy' } },
        errors.invalid,
        errors.unauthorized,
        errors.forbidden,
        { status: 409, description: 'the name is taken' },
      ],
      async handler({ principal, body }) {
        requireReplicationAdmin(principal);
        const policy = await translateReplicationErrors(() => service.createPolicy(policyInput(body), principal.name));
        return {
          status: 201,
          body: policyBody(policy),
          headers: { Location: `/api/v1/replication/policies/${policy.id}` },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/replication/policies/{id}',
      operationId: 'getReplicationPolicy',
      summary: 'One replication policy',
      tag,
      anonymous: false,
      params: idPathSchema,
      responses: [
        { status: 200, description: 'the policy', schema: policySchema },
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
      ],
      async handler({ principal, params }) {
        requireReplicationAdmin(principal);
        return { status: 200, body: policyBody(await translateReplicationErrors(() => service.getPolicy(params.id))) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/replication/policies/{id}',
      operationId: 'updateReplicationPolicy',
      summary: 'Replace a replication policy',
      tag,
      anonymous: false,
      params: idPathSchema,
      body: policyInputSchema,
      responses: [
        { status: 200, description: 'the policy as changed', schema: policySchema },
        errors.invalid,
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
        { status: 409, description: 'the name is taken' },
      ],
      async handler({ principal, params, body }) {
        requireReplicationAdmin(principal);
        const policy = await translateReplicationErrors(() => service.updatePolicy(params.id, policyInput(body)));
        return { status: 200, body: policyBody(policy) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/replication/policies/{id}',
      operationId: 'deleteReplicationPolicy',
      summary: 'Delete a replication policy and its executions',
      tag,
      anonymous: false,
      params: idPathSchema,
      responses: [
        { status: 204, description: 'deleted' },
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
        { status: 412, description: 'an execution of it is running' },
      ],
      async handler({ principal, params }) {
        requireReplicationAdmin(principal);
        await translateReplicationErrors(() => service.deletePolicy(params.id));
        return { status: 204 };
      },
    }),
  ];
}

function policyInput(body: PolicyInputBody): PolicyInput {
  const pull = body.src_registry !== null && body.src_registry !== undefined;
  const remote = pull ? body.src_registry : body.dest_registry;
  return {
    name: body.name,
    description: body.description,
    enabled: body.enabled,
    direction: pull ? 'pull' : 'push',
    remoteId: remote?.id ?? 0,
    filters: body.filters,
    destNamespace: body.dest_namespace === null || body.dest_namespace === '' ? undefined : body.dest_namespace,
    destNamespaceReplaceCount: body.dest_namespace_replace_count,
    trigger: { type: body.trigger.type, cron: body.trigger.trigger_settings?.cron },
    override: body.override,
    deletion: body.deletion,
    concurrency: body.concurrency,
    speed: body.speed,
  };
}
