import { z } from 'zod';
import type { EndpointInput, ReplicationService } from '../../replication/policies/replication-service.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageHeaderDocs, pageQuerySchema } from './common-schemas.ts';
import { pageHeaders, pageWindow } from './paging.ts';
import {
  replicationErrorResponses as errors,
  requireReplicationAdmin,
  translateReplicationErrors,
} from './replication-api.ts';
import {
  endpointBody,
  endpointChangesSchema,
  endpointSchema,
  idPathSchema,
  newEndpointSchema,
  pingResultSchema,
  pingSchema,
} from './replication-schemas.ts';

type CredentialBody = z.output<typeof newEndpointSchema>['credential'];

/** Remote registries that replication policies push to or pull from (Harbor's /registries). */
export function registryEndpointRoutes(service: ReplicationService): ApiRoute[] {
  const tag = 'replication';
  return [
    defineRoute({
      method: 'GET',
      path: '/registries',
      operationId: 'listRegistries',
      summary: 'List registry endpoints',
      tag,
      anonymous: false,
      query: pageQuerySchema,
      responses: [
        { status: 200, description: 'a page of endpoints', schema: z.array(endpointSchema), headers: pageHeaderDocs },
        errors.unauthorized,
        errors.forbidden,
      ],
      async handler({ request, principal, query }) {
        requireReplicationAdmin(principal);
        const all = await service.listEndpoints();
        const { offset, limit } = pageWindow(query);
        return {
          status: 200,
          body: all.slice(offset, offset + limit).map(endpointBody),
          headers: pageHeaders(request, query, all.length),
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/registries',
      operationId: 'createRegistry',
      summary: 'Add a registry endpoint',
      tag,
      anonymous: false,
      body: newEndpointSchema,
      responses: [
        { status: 201, description: 'created', schema: endpointSchema, headers: { Location: 'the new endpoint' } },
        errors.invalid,
        errors.unauthorized,
        errors.forbidden,
        { status: 409, description: 'the name is taken' },
      ],
      async handler({ principal, body }) {
        requireReplicationAdmin(principal);
        const endpoint = await translateReplicationErrors(() => service.createEndpoint(endpointInput(body)));
        return {
          status: 201,
          body: endpointBody(endpoint),
          headers: { Location: `/api/v1/registries/${endpoint.id}` },
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/registries/ping',
      operationId: 'pingRegistry',
      summary: 'Test the connection to a registry endpoint, stored or not',
      tag,
      anonymous: false,
      body: pingSchema,
      responses: [
        {
          status: 200,
          description: 'whether the registry answered and accepted the credentials',
          schema: pingResultSchema,
        },
        errors.invalid,
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
      ],
      async handler({ principal, body }) {
        requireReplicationAdmin(principal);
        const outcome = await translateReplicationErrors(() =>
          service.pingEndpoint(body.id, {
            ...(body.url === undefined ? {} : { url: body.url }),
            ...(body.credential === undefined ? {} : { credential: credentialInput(body.credential) }),
            ...(body.ca_certificate === undefined ? {} : { caCertificate: body.ca_certificate }),
            ...(body.insecure === undefined ? {} : { insecure: body.insecure }),
          }),
        );
        return {
          status: 200,
          body: {
            healthy: outcome.healthy,
            ...(outcome.message === undefined ? {} : { message: outcome.message }),
            ...(outcome.authScheme === undefined ? {} : { auth_scheme: outcome.authScheme }),
            ...(outcome.apiVersion === undefined ? {} : { api_version: outcome.apiVersion }),
          },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/registries/{id}',
      operationId: 'getRegistry',
      summary: 'One registry endpoint',
      tag,
      anonymous: false,
      params: idPathSchema,
      responses: [
        { status: 200, description: 'the endpoint', schema: endpointSchema },
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
      ],
      async handler({ principal, params }) {
        requireReplicationAdmin(principal);
        return {
          status: 200,
          body: endpointBody(await translateReplicationErrors(() => service.getEndpoint(params.id))),
        };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/registries/{id}',
      operationId: 'updateRegistry',
      summary: 'Change a registry endpoint (fields left out keep their value)',
      tag,
      anonymous: false,
      params: idPathSchema,
      body: endpointChangesSchema,
      responses: [
        { status: 200, description: 'the endpoint as changed', schema: endpointSchema },
        errors.invalid,
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
        { status: 409, description: 'the name is taken' },
      ],
      async handler({ principal, params, body }) {
        requireReplicationAdmin(principal);
        const changes: Partial<EndpointInput> = {
          ...(body.name === undefined ? {} : { name: body.name }),
          ...(body.url === undefined ? {} : { url: body.url }),
          ...(body.description === undefined ? {} : { description: body.description }),
          ...(body.credential === undefined ? {} : { credential: credentialInput(body.credential) }),
          ...(body.ca_certificate === undefined ? {} : { caCertificate: body.ca_certificate }),
          ...(body.insecure === undefined ? {} : { insecure: body.insecure }),
        };
        const endpoint = await translateReplicationErrors(() => service.updateEndpoint(params.id, changes));
        return { status: 200, body: endpointBody(endpoint) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/registries/{id}',
      operationId: 'deleteRegistry',
      summary: 'Remove a registry endpoint no policy uses',
      tag,
      anonymous: false,
      params: idPathSchema,
      responses: [
        { status: 204, description: 'removed' },
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
        { status: 409, description: 'a policy uses it' },
      ],
      async handler({ principal, params }) {
        requireReplicationAdmin(principal);
        await translateReplicationErrors(() => service.deleteEndpoint(params.id));
        return { status: 204 };
      },
    }),
  ];
}

function credentialInput(credential: NonNullable<CredentialBody>): NonNullable<EndpointInput['credential']> {
  return credential.type === 'basic'
    ? {
        type: 'basic',
        accessKey: credential.access_key,
        ...(credential.access_secret === undefined ? {} : { accessSecret: credential.access_secret }),
      }
    : { type: 'none' };
}

function endpointInput(body: z.output<typeof newEndpointSchema>): EndpointInput {
  return {
    name: body.name,
    url: body.url,
    ...(body.description === undefined ? {} : { description: body.description }),
    ...(body.credential === undefined ? {} : { credential: credentialInput(body.credential) }),
    ...(body.ca_certificate === undefined ? {} : { caCertificate: body.ca_certificate }),
    ...(body.insecure === undefined ? {} : { insecure: body.insecure }),
  };
}
