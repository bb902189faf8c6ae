import { z } from 'zod';
import type { ReplicationService } from '../../replication/policies/replication-service.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageHeaderDocs, pageQuerySchema } from './common-schemas.ts';
import { pageHeaders, pageWindow } from './paging.ts';
import {
  replicationErrorResponses as errors,
  requireReplicationAdmin,
  translateReplicationErrors,
} from './replication-api.ts';
import {
  executionBody,
  executionQuerySchema,
  executionSchema,
  idPathSchema,
  startExecutionSchema,
  taskBody,
  taskPathSchema,
  taskQuerySchema,
  taskSchema,
} from './replication-schemas.ts';

/** Executions of replication policies and their per-artifact tasks (Harbor's /replication/executions). */
export function replicationExecutionRoutes(service: ReplicationService): ApiRoute[] {
  const tag = 'replication';
  return [
    defineRoute({
      method: 'GET',
      path: '/replication/executions',
      operationId: 'listReplicationExecutions',
      summary: 'List executions, newest first',
      tag,
      anonymous: false,
      query: pageQuerySchema.extend(executionQuerySchema.shape),
      responses: [
        { status: 200, description: 'a page of executions', schema: z.array(executionSchema), headers: pageHeaderDocs },
        errors.unauthorized,
        errors.forbidden,
      ],
      async handler({ request, principal, query }) {
        requireReplicationAdmin(principal);
        const { total, items } = await service.listExecutions(
          {
            ...(query.policy_id === undefined ? {} : { policyId: query.policy_id }),
            ...(query.status === undefined ? {} : { status: query.status }),
            ...(query.trigger === undefined ? {} : { trigger: query.trigger }),
          },
          pageWindow(query),
        );
        return { status: 200, body: items.map(executionBody), headers: pageHeaders(request, query, total) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/replication/executions',
      operationId: 'startReplication',
      summary: 'Start an execution of a policy now',
      tag,
      anonymous: false,
      body: startExecutionSchema,
      responses: [
        { status: 201, description: 'queued', schema: executionSchema, headers: { Location: 'the new execution' } },
        errors.invalid,
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
        { status: 412, description: 'the policy is disabled' },
      ],
      async handler({ principal, body }) {
        requireReplicationAdmin(principal);
        const execution = await translateReplicationErrors(() => service.startExecution(body.policy_id));
        return {
          status: 201,
          body: executionBody(execution),
          headers: { Location: `/api/v1/replication/executions/${execution.id}` },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/replication/executions/{id}',
      operationId: 'getReplicationExecution',
      summary: 'One execution, with its task counts',
      tag,
      anonymous: false,
      params: idPathSchema,
      responses: [
        { status: 200, description: 'the execution', schema: executionSchema },
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
      ],
      async handler({ principal, params }) {
        requireReplicationAdmin(principal);
        const execution = await translateReplicationErrors(() => service.getExecution(params.id));
        return { status: 200, body: executionBody(execution) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/replication/executions/{id}',
      operationId: 'stopReplication',
      summary: 'Stop an execution (at once if pending, within seconds if running)',
      tag,
      anonymous: false,
      params: idPathSchema,
      responses: [
        { status: 200, description: 'the execution after the request', schema: executionSchema },
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
        { status: 412, description: 'it has ended already' },
      ],
      async handler({ principal, params }) {
        requireReplicationAdmin(principal);
        const execution = await translateReplicationErrors(() => service.stopExecution(params.id));
        return { status: 200, body: executionBody(execution) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/replication/executions/{id}/retry',
      operationId: 'retryReplication',
      summary: 'Start a new execution for the tasks of an ended execution that did not succeed',
      tag,
      anonymous: false,
      params: idPathSchema,
      responses: [
        { status: 201, description: 'queued', schema: executionSchema, headers: { Location: 'the new execution' } },
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
        { status: 412, description: 'it has not ended, has no task to retry, or its policy is disabled' },
      ],
      async handler({ principal, params }) {
        requireReplicationAdmin(principal);
        const execution = await translateReplicationErrors(() => service.retryExecution(params.id));
        return {
          status: 201,
          body: executionBody(execution),
          headers: { Location: `/api/v1/replication/executions/${execution.id}` },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/replication/executions/{id}/tasks',
      operationId: 'listReplicationTasks',
      summary: "An execution's tasks, one per artifact, in the order they were created",
      tag,
      anonymous: false,
      params: idPathSchema,
      query: pageQuerySchema.extend(taskQuerySchema.shape),
      responses: [
        { status: 200, description: 'a page of tasks', schema: z.array(taskSchema), headers: pageHeaderDocs },
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
      ],
      async handler({ request, principal, params, query }) {
        requireReplicationAdmin(principal);
        const { total, items } = await translateReplicationErrors(() =>
          service.listTasks(params.id, query.status === undefined ? {} : { status: query.status }, pageWindow(query)),
        );
        return { status: 200, body: items.map(taskBody), headers: pageHeaders(request, query, total) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/replication/executions/{id}/tasks/{task_id}',
      operationId: 'getReplicationTask',
      summary: 'One task of an execution',
      tag,
      anonymous: false,
      params: taskPathSchema,
      responses: [
        { status: 200, description: 'the task', schema: taskSchema },
        errors.unauthorized,
        errors.forbidden,
        errors.notFound,
      ],
      async handler({ principal, params }) {
        requireReplicationAdmin(principal);
        const task = await translateReplicationErrors(() => service.getTask(params.id, params.task_id));
        return { status: 200, body: taskBody(task) };
      },
    }),
  ];
}
