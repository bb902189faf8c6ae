import { z } from 'zod';
import { notFound } from './api-errors.ts';
import { type ApiRoute, defineRoute } from './api-route.ts';
import { pageHeaderDocs, pageQuerySchema } from './common-schemas.ts';
import { requireProjectAdmin } from './lifecycle-access.ts';
import type { LifecycleApiDependencies } from './lifecycle-api.ts';
import { apiPrefix } from './management-context.ts';
import { pageHeaders, pageWindow } from './paging.ts';
import type { ProjectAccess } from './project-access.ts';
import { projectPathSchema } from './project-schemas.ts';
import {
  policyBody,
  policyInputSchema,
  policySchema,
  runArtifactBody,
  runArtifactSchema,
  runBody,
  runInputSchema,
  runPathSchema,
  runSchema,
} from './retention-schemas.ts';

const tag = 'retention';

/** A project's retention policy (rules and schedule), its runs by hand, and the record of every run. */
export function retentionRoutes(access: ProjectAccess, deps: Pick<LifecycleApiDependencies, 'retention'>): ApiRoute[] {
  const { store, runner, scheduler } = deps.retention;
  const findPolicy = async (project: string) => {
    const policy = await store.findPolicy(project);
    if (!policy) throw notFound(`project ${project} has no retention policy`);
    return policy;
  };
  const findRun = async (project: string, id: number) => {
    const run = await store.findRun(project, id);
    if (!run) throw notFound(`retention run ${id} does not exist in project ${project}`);
    return run;
  };
  return [
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/retention',
      operationId: 'getRetentionPolicy',
      summary: "The project's retention policy",
      tag,
      anonymous: true,
      params: projectPathSchema,
      responses: [
        { status: 200, description: 'the policy', schema: policySchema },
        { status: 404, description: 'the project has no policy' },
      ],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        return { status: 200, body: policyBody(await findPolicy(params.name)) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/projects/{name}/retention',
      operationId: 'setRetentionPolicy',
      summary: "Set the project's retention rules and schedule (project admins)",
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: policyInputSchema,
      responses: [{ status: 200, description: 'the policy', schema: policySchema }],
      async handler({ principal, params, body }) {
        const view = await requireProjectAdmin(access, principal, params.name, 'set the retention policy');
        await store.savePolicy(view.project.id, body, principal.name);
        await scheduler?.refresh();
        return { status: 200, body: policyBody(await findPolicy(params.name)) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/projects/{name}/retention',
      operationId: 'deleteRetentionPolicy',
      summary: "Remove the project's retention policy and its schedule (project admins); runs stay on record",
      tag,
      anonymous: false,
      params: projectPathSchema,
      responses: [{ status: 204, description: 'removed' }],
      async handler({ principal, params }) {
        const view = await requireProjectAdmin(access, principal, params.name, 'remove the retention policy');
        if (!(await store.deletePolicy(view.project.id)))
          throw notFound(`project ${params.name} has no retention policy`);
        await scheduler?.refresh();
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/projects/{name}/retention/runs',
      operationId: 'startRetentionRun',
      summary: 'Run the retention policy now, or only list what it would delete (project admins)',
      tag,
      anonymous: false,
      params: projectPathSchema,
      body: runInputSchema,
      responses: [
        {
          status: 202,
          description: 'started; the run goes on in the background',
          schema: runSchema,
          headers: { Location: 'the run' },
        },
      ],
      async handler({ principal, params, body }) {
        await requireProjectAdmin(access, principal, params.name, 'run the retention policy');
        const run = await runner.start(await findPolicy(params.name), {
          dryRun: body.dry_run,
          triggeredBy: principal.name,
        });
        return {
          status: 202,
          body: runBody(run),
          headers: { Location: `${apiPrefix}/projects/${params.name}/retention/runs/${run.id}` },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/retention/runs',
      operationId: 'listRetentionRuns',
      summary: "The project's retention runs, newest first",
      tag,
      anonymous: true,
      params: projectPathSchema,
      query: pageQuerySchema,
      responses: [{ status: 200, description: 'a page of runs', schema: z.array(runSchema), headers: pageHeaderDocs }],
      async handler({ request, principal, params, query }) {
        await access.view(principal, params.name);
        const { total, runs } = await store.listRuns(params.name, pageWindow(query));
        return { status: 200, body: runs.map(runBody), headers: pageHeaders(request, query, total) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/retention/runs/{id}',
      operationId: 'getRetentionRun',
      summary: 'One retention run',
      tag,
      anonymous: true,
      params: runPathSchema,
      responses: [{ status: 200, description: 'the run', schema: runSchema }],
      async handler({ principal, params }) {
        await access.view(principal, params.name);
        return { status: 200, body: runBody(await findRun(params.name, params.id)) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/projects/{name}/retention/runs/{id}/artifacts',
      operationId: 'listRetentionRunArtifacts',
      summary: 'What a run deleted, failed to delete or (dry run) would delete, by repository and digest',
      tag,
      anonymous: true,
      params: runPathSchema,
      query: pageQuerySchema,
      responses: [
        {
          status: 200,
          description: 'a page of artifacts',
          schema: z.array(runArtifactSchema),
          headers: pageHeaderDocs,
        },
      ],
      async handler({ request, principal, params, query }) {
        await access.view(principal, params.name);
        const run = await findRun(params.name, params.id);
        const { total, artifacts } = await store.listRunArtifacts(run.id, pageWindow(query));
        return { status: 200, body: artifacts.map(runArtifactBody), headers: pageHeaders(request, query, total) };
      },
    }),
  ];
}
