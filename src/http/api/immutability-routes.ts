import { z } from 'zod';
import { globProblem } from '../../policy/glob.ts';
import type { ImmutabilityRule } from '../../policy/immutability/immutability-rules.ts';
import { decorations } from '../../policy/selector.ts';
import { notFound } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { timestamp, timestampSchema } from './common-schemas.ts';
import { requireProjectAdmin } from './lifecycle-access.ts';
import type { LifecycleApiDependencies } from './lifecycle-api.ts';
import { apiPrefix } from './management-context.ts';
import type { ProjectAccess } from './project-access.ts';
import { projectNameSchema, projectPathSchema } from './project-schemas.ts';

const tag = 'immutability';

const pattern = z
  .string()
  .min(1)
  .max(256)
  .superRefine((value, context) => {
    const problem = globProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

const selectorSchema = (what: string) =>
  z.strictObject({
    pattern: pattern.describe(`a doublestar glob over ${what}: ** anything, * anything but /, ?, {a,b}, [a-z]`),
    decoration: z.enum(decorations).default('matches'),
  });

const ruleInputSchema = z.strictObject({
  repositories: selectorSchema('repository names without the project').prefault({ pattern: '**' }),
  tags: selectorSchema('tag names'),
  disabled: z.boolean().default(false),
});

const ruleSchema = z.object({
  id: z.number().int(),
  repositories: z.object({ pattern: z.string(), decoration: z.enum(decorations) }),
  tags: z.object({ pattern: z.string(), decoration: z.enum(decorations) }),
  disabled: z.boolean(),
  created_at: timestampSchema,
  created_by: z.string().nullable(),
});

const rulePathSchema = z.object({ name: projectNameSchema, id: z.coerce.number().int().min(1) });

/**
 * Tag immutability rules of a project: a tag that an enabled rule matches (its repository and its
 * name) can be pushed once and never moved or deleted afterwards.
 */
export function immutabilityRoutes(
  access: ProjectAccess,
  deps: Pick<LifecycleApiDependencies, 'immutability'>,
): ApiRoute[] {
  const { immutability } = deps;
  const manage = (principal: Parameters<typeof requireProjectAdmin>[1], project: string) =>
    requireProjectAdmin(access, principal, project, 'manage the immutability rules');
  return [
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/immutability-rules',
      operationId: 'listImmutabilityRules',
      summary: "The project's tag immutability rules",
      tag,
      anonymous: true,
      params: projectPathSchema,
      responses: [{ status: 200, description: 'the rules, oldest first', schema: z.array(ruleSchema) }],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        return { status: 200, body: (await immutability.list(params.name)).map(ruleBody) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects/{name}/immutability-rules',
      operationId: 'createImmutabilityRule',
      summary: 'Add a tag immutability rule (project admins)',
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: ruleInputSchema,
      responses: [{ status: 201, description: 'created', schema: ruleSchema, headers: { Location: 'the new rule' } }],
      async handler({ principal, params, body }) {
        const view = await manage(principal, params.name);
        const rule = await immutability.create(view.project.id, params.name, body, principal.name);
        return {
          status: 201,
          body: ruleBody(rule),
          headers: { Location: `${apiPrefix}/projects/${params.name}/immutability-rules/${rule.id}` },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/immutability-rules/{id}',
      operationId: 'getImmutabilityRule',
      summary: 'One tag immutability rule',
      tag,
      anonymous: true,
      params: rulePathSchema,
      responses: [{ status: 200, description: 'the rule', schema: ruleSchema }],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        const rule = await immutability.find(params.name, params.id);
        if (!rule) throw notFound(`immutability rule ${params.id} does not exist in project ${params.name}`);
        return { status: 200, body: ruleBody(rule) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/projects/{name}/immutability-rules/{id}',
      operationId: 'updateImmutabilityRule',
      summary: 'Replace a tag immutability rule, or enable or disable it (project admins)',
      tag,
      anonymous: false,
      params: rulePathSchema,
      body: ruleInputSchema,
      responses: [{ status: 200, description: 'the changed rule', schema: ruleSchema }],
      async handler({ principal, params, body }) {
        await manage(principal, params.name);
        const rule = await immutability.update(params.name, params.id, body);
        if (!rule) throw notFound(`immutability rule ${params.id} does not exist in project ${params.name}`);
        return { status: 200, body: ruleBody(rule) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/projects/{name}/immutability-rules/{id}',
      operationId: 'deleteImmutabilityRule',
      summary: 'Remove a tag immutability rule (project admins)',
      tag,
      anonymous: false,
      params: rulePathSchema,
      responses: [{ status: 204, description: 'removed' }],
      async handler({ principal, params }) {
        await manage(principal, params.name);
        if (!(await immutability.delete(params.name, params.id))) {
          throw notFound(`immutability rule ${params.id} does not exist in project ${params.name}`);
        }
        return { status: 204 };
      },
    }),
  ];
}

function ruleBody(rule: ImmutabilityRule): z.output<typeof ruleSchema> {
  return {
    id: rule.id,
    repositories: rule.repositories,
    tags: rule.tags,
    disabled: rule.disabled,
    created_at: timestamp(rule.createdAt),
    created_by: rule.createdBy,
  };
}
