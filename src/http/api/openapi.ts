import { z } from 'zod';
import type { ApiOperation, ApiResponseSpec } from './api-route.ts';
import { errorsSchema } from './common-schemas.ts';
import { apiPrefix } from './management-context.ts';

type JsonObject = Record<string, unknown>;

/**
 * The OpenAPI 3.1 document of /api/v1, generated from the same zod schemas that validate the
 * requests, so the description cannot drift from what the server accepts.
 */
export function openApiDocument(operations: readonly ApiOperation[], version: string): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const operation of operations) {
    paths[operation.path] ??= {};
    paths[operation.path]![operation.method.toLowerCase()] = operationObject(operation);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Wharf management API',
      version,
      description:
        'Projects, members, robot accounts and users. Errors are {"errors":[{"code","message","detail"}]}, as on /v2/.',
    },
    servers: [{ url: apiPrefix }],
    tags: [...new Set(operations.map((operation) => operation.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic', description: 'a user name and password, or a robot name and secret' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'a token of the token service' },
      },
      schemas: { Errors: jsonSchema(errorsSchema, 'output') },
    },
  };
}

function operationObject(operation: ApiOperation): JsonObject {
  const parameters = [...parametersOf(operation.params, 'path'), ...parametersOf(operation.query, 'query')];
  const result: JsonObject = {
    operationId: operation.operationId,
    summary: operation.summary,
    tags: [operation.tag],
    security: operation.anonymous ? [{}, { basic: [] }, { bearer: [] }] : [{ basic: [] }, { bearer: [] }],
  };
  if (parameters.length > 0) result.parameters = parameters;
  if (operation.body) {
    result.requestBody = {
      required: true,
      content: { 'application/json': { schema: jsonSchema(operation.body, 'input') } },
    };
  }
  const responses: JsonObject = {};
  for (const response of operation.responses) responses[String(response.status)] = responseObject(response);
  responses.default = { description: 'an error', content: errorContent() };
  result.responses = responses;
  return result;
}

function parametersOf(schema: z.ZodObject | undefined, where: 'path' | 'query'): JsonObject[] {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    const parameter: JsonObject = {
      name,
      in: where,
      required: where === 'path' || (object.required ?? []).includes(name),
      schema: rest,
    };
    if (typeof description === 'string') parameter.description = description;
    return parameter;
  });
}

function responseObject(response: ApiResponseSpec): JsonObject {
  const result: JsonObject = { description: response.description };
  if (response.schema) result.content = { 'application/json': { schema: jsonSchema(response.schema, 'output') } };
  else if (response.status >= 400) result.content = errorContent();
  if (response.headers) {
    result.headers = Object.fromEntries(
      Object.entries(response.headers).map(([name, description]) => [
        name,
        { description, schema: { type: 'string' } },
      ]),
    );
  }
  return result;
}

function errorContent(): JsonObject {
  return { 'application/json': { schema: { $ref: '#/components/schemas/Errors' } } };
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonObject;
  return rest;
}
