import { z } from 'zod';
import type { QuotaStanding, Recomputed } from '../../policy/quota/quotas.ts';
import { projectScope } from '../../policy/quota/usage-scope.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { requireSystemAdmin } from './lifecycle-access.ts';
import type { LifecycleApiDependencies } from './lifecycle-api.ts';
import type { ProjectAccess } from './project-access.ts';
import { projectNameSchema, projectPathSchema } from './project-schemas.ts';

const tag = 'quotas';

const usageSchema = z.object({
  bytes: z.number().int().describe('distinct blobs the manifests reference, each once, plus the manifests'),
  artifacts: z.number().int().describe('manifests'),
});

const standingSchema = z.object({
  limits: z.object({
    bytes: z.number().int().nullable().describe('null: no limit'),
    artifacts: z.number().int().nullable().describe('null: no limit'),
  }),
  used: usageSchema,
});

const limitsInputSchema = z.strictObject({
  bytes: z.number().int().min(0).nullable().optional().describe('null lifts the limit; absent leaves it'),
  artifacts: z.number().int().min(0).nullable().optional().describe('null lifts the limit; absent leaves it'),
});

const recomputeQuerySchema = z.object({
  project: projectNameSchema.optional().describe('only this project; every project and the registry otherwise'),
});

const recomputedSchema = z.object({
  scope: z.string().meta({ example: 'project:team' }),
  before: usageSchema.nullable().describe('what was recorded; null when nothing was'),
  after: usageSchema,
  corrected: z.boolean().describe('whether the recorded usage differed'),
});

/** Per-project quotas (storage bytes, artifact count), their usage, the registry's, and a repair. */
export function quotaRoutes(access: ProjectAccess, deps: Pick<LifecycleApiDependencies, 'quotas'>): ApiRoute[] {
  const { quotas } = deps;
  return [
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/quota',
      operationId: 'getProjectQuota',
      summary: "The project's quota and what it uses",
      tag,
      anonymous: true,
      params: projectPathSchema,
      responses: [{ status: 200, description: 'limits and usage', schema: standingSchema }],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        return { status: 200, body: standingBody(await quotas.project(params.name)) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/projects/{name}/quota',
      operationId: 'setProjectQuota',
      summary: "Set or lift the project's limits (system administrators)",
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: limitsInputSchema,
      responses: [{ status: 200, description: 'limits and usage', schema: standingSchema }],
      async handler({ principal, params, body }) {
        requireSystemAdmin(principal, 'set quotas');
        await access.view(principal, params.name);
        await quotas.setProjectLimits(params.name, body);
        return { status: 200, body: standingBody(await quotas.project(params.name)) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/usage',
      operationId: 'getRegistryUsage',
      summary: "The registry's usage and storage.quota (system administrators)",
      tag,
      anonymous: false,
      responses: [{ status: 200, description: 'limits and usage', schema: standingSchema }],
      async handler({ principal }) {
        requireSystemAdmin(principal, 'see the registry usage');
        return { status: 200, body: standingBody(await quotas.registry()) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/usage/recompute',
      operationId: 'recomputeUsage',
      summary: 'Count usage again from scratch and record it (system administrators)',
      tag,
      anonymous: false,
      query: recomputeQuerySchema,
      responses: [
        { status: 200, description: 'what was recorded and what is true', schema: z.array(recomputedSchema) },
      ],
      async handler({ principal, query }) {
        requireSystemAdmin(principal, 'recompute usage');
        const results =
          query.project === undefined
            ? await quotas.recomputeAll()
            : [await quotas.recompute(projectScope(query.project))];
        return { status: 200, body: results.map(recomputedBody) };
      },
    }),
  ];
}

function standingBody(standing: QuotaStanding): z.output<typeof standingSchema> {
  return { limits: standing.limits, used: standing.used };
}

function recomputedBody(result: Recomputed): z.output<typeof recomputedSchema> {
  const corrected =
    result.before === undefined ||
    result.before.bytes !== result.after.bytes ||
    result.before.artifacts !== result.after.artifacts;
  return { scope: result.scope, before: result.before ?? null, after: result.after, corrected };
}
