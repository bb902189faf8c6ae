import { Cron } from 'croner';
import { validateFilters } from './artifact-filter.ts';
import { type PingOutcome, pingEndpoint } from './endpoint-client.ts';
import type { EndpointFields, EndpointStore } from './endpoint-store.ts';
import { normalizeEndpointUrl } from './endpoint-url.ts';
import { type ExecutionStore, emptySummary, type PageWindow } from './execution-store.ts';
import { destinationRepository } from './namespace-rewrite.ts';
import type { PolicyFields, PolicyStore } from './policy-store.ts';
import { ReplicationError } from './replication-error.ts';
import {
  type EndpointConnection,
  type Execution,
  type ExecutionStatus,
  type ExecutionSummary,
  type ExecutionTrigger,
  isFinished,
  type RegistryEndpoint,
  type ReplicationPolicy,
  type ReplicationTask,
  type TaskStatus,
} from './replication-model.ts';
import type { SecretBox } from './secret-box.ts';

export interface EndpointInput {
  name: string;
  url: string;
  description?: string;
  /** A secret left out of an update keeps the stored one. */
  credential?: { type: 'basic'; accessKey: string; accessSecret?: string } | { type: 'none' };
  caCertificate?: string | null;
  insecure?: boolean;
}

export type PolicyInput = Omit<PolicyFields, 'createdBy'>;

export interface ExecutionView extends Execution, ExecutionSummary {}

/** Told about changes the background parts act on. */
export interface ReplicationHooks {
  policiesChanged(): void;
  executionQueued(): void;
}

/**
 * What the management API does with replication: registry endpoints, policies, and executions
 * started, listed and stopped. Executions themselves run in the ExecutionDispatcher.
 */
export class ReplicationService {
  readonly endpoints: EndpointStore;
  readonly policies: PolicyStore;
  readonly executions: ExecutionStore;
  private hooks: ReplicationHooks = { policiesChanged: () => {}, executionQueued: () => {} };

  constructor(
    stores: { endpoints: EndpointStore; policies: PolicyStore; executions: ExecutionStore },
    private readonly secrets: SecretBox,
    private readonly ping: (connection: EndpointConnection) => Promise<PingOutcome> = pingEndpoint,
  ) {
    this.endpoints = stores.endpoints;
    this.policies = stores.policies;
    this.executions = stores.executions;
  }

  setHooks(hooks: ReplicationHooks): void {
    this.hooks = hooks;
  }

  // Registry endpoints

  listEndpoints(): Promise<RegistryEndpoint[]> {
    return this.endpoints.list();
  }

  async getEndpoint(id: number): Promise<RegistryEndpoint> {
    const endpoint = await this.endpoints.find(id);
    if (!endpoint) throw new ReplicationError('not-found', `no registry endpoint ${id}`);
    return endpoint;
  }

  async createEndpoint(input: EndpointInput): Promise<RegistryEndpoint> {
    const fields = this.endpointFields(input, undefined);
    await this.assertEndpointNameFree(fields.name, undefined);
    return this.getEndpoint(await this.endpoints.create(fields));
  }

  async updateEndpoint(id: number, input: Partial<EndpointInput>): Promise<RegistryEndpoint> {
    const current = await this.getEndpoint(id);
    const merged: EndpointInput = {
      name: input.name ?? current.name,
      url: input.url ?? current.url,
      description: input.description ?? current.description,
      caCertificate: input.caCertificate === undefined ? (current.caCertificate ?? null) : input.caCertificate,
      insecure: input.insecure ?? current.insecure,
      credential:
        input.credential ??
        (current.credential.type === 'basic'
          ? { type: 'basic', accessKey: current.credential.accessKey }
          : { type: 'none' }),
    };
    const fields = this.endpointFields(merged, await this.endpoints.sealedSecret(id));
    await this.assertEndpointNameFree(fields.name, id);
    if (!(await this.endpoints.update(id, fields)))
      throw new ReplicationError('not-found', `no registry endpoint ${id}`);
    return this.getEndpoint(id);
  }

  async deleteEndpoint(id: number): Promise<void> {
    await this.getEndpoint(id);
    const users = await this.endpoints.policiesUsing(id);
    if (users.length > 0) {
      throw new ReplicationError('conflict', `registry endpoint ${id} is used by the policies ${users.join(', ')}`);
    }
    if (!(await this.endpoints.delete(id))) throw new ReplicationError('not-found', `no registry endpoint ${id}`);
  }

  /** Tests a stored endpoint, optionally with changes not saved yet, or an endpoint given whole. */
  async pingEndpoint(id: number | undefined, input: Partial<EndpointInput>): Promise<PingOutcome> {
    let connection: EndpointConnection;
    if (id === undefined) {
      if (input.url === undefined) throw new ReplicationError('invalid', 'give the id of an endpoint, or a url');
      const fields = this.endpointFields({ name: 'ping', ...input, url: input.url }, undefined);
      connection = this.connectionOf(fields);
    } else {
      const current = await this.getEndpoint(id);
      const credential =
        input.credential ??
        (current.credential.type === 'basic'
          ? { type: 'basic' as const, accessKey: current.credential.accessKey }
          : { type: 'none' as const });
      const fields = this.endpointFields(
        {
          name: current.name,
          url: input.url ?? current.url,
          credential,
          caCertificate: input.caCertificate === undefined ? (current.caCertificate ?? null) : input.caCertificate,
          insecure: input.insecure ?? current.insecure,
        },
        await this.endpoints.sealedSecret(id),
      );
      connection = this.connectionOf(fields);
    }
    return this.ping(connection);
  }

  /** How to reach the endpoint, its secret decrypted. */
  async connection(id: number): Promise<EndpointConnection> {
    const endpoint = await this.getEndpoint(id);
    const sealed = await this.endpoints.sealedSecret(id);
    return {
      url: endpoint.url,
      username: endpoint.credential.type === 'basic' ? endpoint.credential.accessKey : undefined,
      password: sealed === undefined ? undefined : this.secrets.open(sealed),
      caCertificate: endpoint.caCertificate,
      insecure: endpoint.insecure,
    };
  }

  // Policies

  listPolicies(page: PageWindow): Promise<{ total: number; items: ReplicationPolicy[] }> {
    return this.policies.list(page);
  }

  async getPolicy(id: number): Promise<ReplicationPolicy> {
    const policy = await this.policies.find(id);
    if (!policy) throw new ReplicationError('not-found', `no replication policy ${id}`);
    return policy;
  }

  async createPolicy(input: PolicyInput, createdBy: string | undefined): Promise<ReplicationPolicy> {
    await this.validatePolicy(input, undefined);
    const id = await this.policies.create({ ...input, createdBy });
    this.hooks.policiesChanged();
    return this.getPolicy(id);
  }

  async updatePolicy(id: number, input: PolicyInput): Promise<ReplicationPolicy> {
    const current = await this.getPolicy(id);
    await this.validatePolicy(input, id);
    await this.policies.update(id, { ...input, createdBy: current.createdBy });
    this.hooks.policiesChanged();
    return this.getPolicy(id);
  }

  async deletePolicy(id: number): Promise<void> {
    await this.getPolicy(id);
    const active = await this.executions.list({ policyId: id, status: 'running' }, { offset: 0, limit: 1 });
    if (active.total > 0) {
      throw new ReplicationError('precondition', `policy ${id} has a running execution; stop it first`);
    }
    await this.policies.delete(id);
    this.hooks.policiesChanged();
  }

  // Executions

  /** Queues an execution of the policy; it starts on whichever instance takes it first. */
  async startExecution(policyId: number, trigger: ExecutionTrigger = 'manual'): Promise<ExecutionView> {
    const policy = await this.getPolicy(policyId);
    if (!policy.enabled) throw new ReplicationError('precondition', `policy ${policyId} is disabled`);
    const id = await this.executions.create(policyId, trigger);
    if (id === undefined) throw new ReplicationError('conflict', 'the execution could not be created');
    this.hooks.executionQueued();
    return this.getExecution(id);
  }

  /**
   * Queues a new execution of an ended execution's policy for the tasks that did not succeed
   * (failed, stopped, never started); the ones that succeeded or were skipped are not run again.
   */
  async retryExecution(id: number): Promise<ExecutionView> {
    const execution = await this.getExecution(id);
    if (!isFinished(execution.status)) {
      throw new ReplicationError('precondition', `execution ${id} has not ended (${execution.status})`);
    }
    const policy = await this.getPolicy(execution.policyId);
    if (!policy.enabled) throw new ReplicationError('precondition', `policy ${policy.id} is disabled`);
    const retry = await this.executions.createRetry(id, policy.id);
    if (retry === undefined) throw new ReplicationError('precondition', `execution ${id} has no task to retry`);
    this.hooks.executionQueued();
    return this.getExecution(retry);
  }

  async listExecutions(
    filter: { policyId?: number; status?: ExecutionStatus; trigger?: ExecutionTrigger },
    page: PageWindow,
  ): Promise<{ total: number; items: ExecutionView[] }> {
    const { total, items } = await this.executions.list(filter, page);
    const summaries = await this.executions.summaries(items.map((item) => item.id));
    return { total, items: items.map((item) => ({ ...item, ...(summaries.get(item.id) ?? emptySummary()) })) };
  }

  async getExecution(id: number): Promise<ExecutionView> {
    const execution = await this.executions.find(id);
    if (!execution) throw new ReplicationError('not-found', `no replication execution ${id}`);
    const summary = (await this.executions.summaries([id])).get(id) ?? emptySummary();
    return { ...execution, ...summary };
  }

  /** Stops a pending execution at once, a running one within a heartbeat; a finished one is left as it is. */
  async stopExecution(id: number): Promise<ExecutionView> {
    const execution = await this.getExecution(id);
    if (isFinished(execution.status)) {
      throw new ReplicationError('precondition', `execution ${id} has already ended (${execution.status})`);
    }
    await this.executions.requestStop(id);
    return this.getExecution(id);
  }

  async listTasks(
    executionId: number,
    filter: { status?: TaskStatus },
    page: PageWindow,
  ): Promise<{ total: number; items: ReplicationTask[] }> {
    await this.getExecution(executionId);
    return this.executions.listTasks(executionId, filter, page);
  }

  async getTask(executionId: number, taskId: number): Promise<ReplicationTask> {
    const task = await this.executions.findTask(executionId, taskId);
    if (!task) throw new ReplicationError('not-found', `no task ${taskId} in replication execution ${executionId}`);
    return task;
  }

  // Internals

  private endpointFields(input: EndpointInput, storedSecret: string | undefined): EndpointFields {
    const url = normalizeEndpointUrl(input.url);
    const name = input.name.trim();
    if (name === '') throw new ReplicationError('invalid', 'name: must not be empty');
    const ca = input.caCertificate ?? undefined;
    if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ReplicationError('invalid', 'ca_certificate: expected PEM certificates');
    }
    const credential = input.credential ?? { type: 'none' as const };
    return {
      name,
      url,
      description: input.description ?? '',
      credential:
        credential.type === 'basic'
          ? {
              type: 'basic',
              accessKey: credential.accessKey,
              sealedSecret:
                credential.accessSecret === undefined ? storedSecret : this.secrets.seal(credential.accessSecret),
            }
          : { type: 'none' },
      caCertificate: ca,
      insecure: input.insecure ?? false,
    };
  }

  private connectionOf(fields: EndpointFields): EndpointConnection {
    const basic = fields.credential.type === 'basic' ? fields.credential : undefined;
    return {
      url: fields.url,
      username: basic?.accessKey,
      password: basic?.sealedSecret === undefined ? undefined : this.secrets.open(basic.sealedSecret),
      caCertificate: fields.caCertificate,
      insecure: fields.insecure,
    };
  }

  private async assertEndpointNameFree(name: string, self: number | undefined): Promise<void> {
    const existing = await this.endpoints.findByName(name);
    if (existing && existing.id !== self) {
      throw new ReplicationError('conflict', `a registry endpoint named "${name}" exists already`);
    }
  }

  private async validatePolicy(input: PolicyInput, self: number | undefined): Promise<void> {
    if (input.name.trim() === '') throw new ReplicationError('invalid', 'name: must not be empty');
    const existing = await this.policies.findByName(input.name);
    if (existing && existing.id !== self) {
      throw new ReplicationError('conflict', `a replication policy named "${input.name}" exists already`);
    }
    if (!(await this.endpoints.find(input.remoteId))) {
      throw new ReplicationError('invalid', `no registry endpoint ${input.remoteId}`);
    }
    try {
      validateFilters(input.filters);
    } catch (error) {
      throw new ReplicationError('invalid', `filters: ${(error as Error).message}`);
    }
    if (input.trigger.type === 'scheduled') {
      if (input.trigger.cron === undefined) {
        throw new ReplicationError('invalid', 'trigger.trigger_settings.cron: required for a scheduled trigger');
      }
      try {
        new Cron(input.trigger.cron, { paused: true }).stop();
      } catch (error) {
        throw new ReplicationError('invalid', `trigger.trigger_settings.cron: ${(error as Error).message}`);
      }
    }
    if (input.trigger.type === 'event_based' && input.direction !== 'push') {
      throw new ReplicationError(
        'invalid',
        'trigger: event_based replicates pushes, so only a push policy (dest_registry) takes it',
      );
    }
    if (input.deletion && input.direction !== 'push') {
      throw new ReplicationError('invalid', 'deletion: only a push policy (dest_registry) propagates deletions');
    }
    if (input.destNamespace !== undefined && input.destNamespace !== '') {
      try {
        destinationRepository('a/b', input.destNamespace, Math.min(input.destNamespaceReplaceCount, 1));
      } catch (error) {
        throw new ReplicationError('invalid', `dest_namespace: ${(error as Error).message}`);
      }
      if (
        !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(input.destNamespace)
      ) {
        throw new ReplicationError('invalid', 'dest_namespace: not a valid repository path');
      }
    }
  }
}
