import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { isAnonymous, type Principal } from '../../auth/principal.ts';
import { RegistryError } from '../../oci/errors.ts';
import { hasBody, readLimitedBody } from '../v2/request-body.ts';
import { invalidInput } from './api-errors.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiResponseSpec {
  status: number;
  description: string;
  schema?: z.ZodType;
  /** Response header name → what it carries. */
  headers?: Record<string, string>;
}

/** What the OpenAPI document says about one operation; the same schemas validate the requests. */
export interface ApiOperation {
  method: HttpMethod;
  /** Below /api/v1, in OpenAPI form: `/projects/{name}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Whether an anonymous caller may call it at all (it may still see less). */
  anonymous: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  responses: readonly ApiResponseSpec[];
}

export interface ApiCall<Params, Query, Body> {
  request: FastifyRequest;
  principal: Principal;
  params: Params;
  query: Query;
  body: Body;
}

export interface ApiResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiRoute extends ApiOperation {
  handle(request: FastifyRequest, principal: Principal): Promise<ApiResult>;
}

/** JSON request bodies of the management API are small; anything larger is refused as it arrives. */
export const maxJsonBodyBytes = 64 * 1024;

type Parsed<T> = T extends z.ZodType ? z.output<T> : undefined;

/**
 * One operation: its description and its handler, typed by the schemas that validate the path
 * parameters, the query and the JSON body before the handler runs.
 */
export function defineRoute<
  Params extends z.ZodObject | undefined = undefined,
  Query extends z.ZodObject | undefined = undefined,
  Body extends z.ZodType | undefined = undefined,
>(
  spec: Omit<ApiOperation, 'params' | 'query' | 'body'> & {
    params?: Params;
    query?: Query;
    body?: Body;
    handler(call: ApiCall<Parsed<Params>, Parsed<Query>, Parsed<Body>>): Promise<ApiResult>;
  },
): ApiRoute {
  const { handler, ...operation } = spec;
  return {
    ...operation,
    async handle(request, principal) {
      const params = validate(spec.params, request.params, 'path') as Parsed<Params>;
      const query = validate(spec.query, request.query, 'query') as Parsed<Query>;
      const body = validate(spec.body, await readJson(request, spec.body !== undefined), 'body') as Parsed<Body>;
      return handler({ request, principal, params, query, body });
    },
  };
}

export interface MountOptions {
  identify(request: FastifyRequest): Promise<Principal>;
  /** The 401 for a caller that must authenticate (with the challenge the registry uses). */
  unauthorized(message: string): RegistryError;
}

/** Registers each route on the (prefixed) Fastify instance. */
export function mountRoutes(app: FastifyInstance, routes: readonly ApiRoute[], options: MountOptions): void {
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.path.replace(/\{(\w+)\}/g, ':$1'),
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const principal = await options.identify(request);
        if (!route.anonymous && isAnonymous(principal)) throw options.unauthorized('authentication required');
        const result = await route.handle(request, principal);
        reply.code(result.status).headers(result.headers ?? {});
        if (result.body === undefined) return reply.send();
        return reply.header('Content-Type', 'application/json; charset=utf-8').send(JSON.stringify(result.body));
      },
    });
  }
}

function validate(schema: z.ZodType | undefined, value: unknown, where: 'path' | 'query' | 'body'): unknown {
  if (schema === undefined) return undefined;
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInput(where, result.error.issues);
  return result.data;
}

/** The JSON body when the operation takes one; any body sent to one that takes none is drained unread. */
async function readJson(request: FastifyRequest, expected: boolean): Promise<unknown> {
  const raw = request.raw;
  if (!expected) {
    if (hasBody(raw)) raw.resume();
    return undefined;
  }
  const type = request.headers['content-type'];
  if (type !== undefined && !/^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i.test(type)) {
    raw.resume();
    throw new RegistryError('UNSUPPORTED', 'the request body must be application/json', { status: 415 });
  }
  const bytes = await readLimitedBody(raw, maxJsonBodyBytes, 'request body');
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RegistryError('UNSUPPORTED', 'the request body is not valid JSON', { status: 400 });
  }
}
