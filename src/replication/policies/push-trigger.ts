import type { Transaction } from 'kysely';
import type { ChangeListener, MetadataChange } from '../../metadata/metadata-changes.ts';
import type { Database } from '../../metadata/schema.ts';
import { ArtifactSelector } from './artifact-filter.ts';
import type { ExecutionStore } from './execution-store.ts';
import type { PolicyStore } from './policy-store.ts';
import type { ReplicationPolicy } from './replication-model.ts';

/** How long the list of event-based policies is reused; a change made on this instance clears it at once. */
const policiesTtlMs = 5_000;

/**
 * The `event_based` trigger: a change listener that, inside the transaction of a push or delete,
 * queues it for every enabled event-based policy whose filters select it. The queue row commits
 * or rolls back with the change, so nothing is replicated that was not stored, and nothing stored
 * is missed if the instance dies right after; the copy itself runs after the commit, in an
 * execution (ExecutionDispatcher), never inside the writer's transaction.
 *
 * A tagged manifest is replicated by tag; an untagged manifest only when it refers to a subject (a
 * signature or SBOM pushed after its image). Deletions are queued for policies with `deletion`.
 */
export class PushTrigger {
  private cached: { policies: { policy: ReplicationPolicy; selector: ArtifactSelector }[]; at: number } | undefined;

  constructor(
    private readonly policies: PolicyStore,
    private readonly executions: ExecutionStore,
    /** Told after a change queued something: the dispatcher looks shortly after the commit. */
    private readonly queued: () => void,
  ) {}

  /** Forgets the cached policy list (a policy changed on this instance). */
  invalidate(): void {
    this.cached = undefined;
  }

  listener(): ChangeListener {
    return async (trx, change) => {
      if (!isReplicable(change)) return;
      const policies = await this.eventPolicies(trx);
      let queued = false;
      for (const { policy, selector } of policies) {
        if (!selector.acceptsRepository(change.repository)) continue;
        const trigger = triggerOf(change, policy, selector);
        if (!trigger) continue;
        await this.executions.enqueueTrigger(trx, { policyId: policy.id, repository: change.repository, ...trigger });
        queued = true;
      }
      // After this transaction commits (the timer runs once the writer's awaits are done).
      if (queued) setTimeout(this.queued, 20).unref();
    };
  }

  private async eventPolicies(trx: Transaction<Database>) {
    if (this.cached && Date.now() - this.cached.at < policiesTtlMs) return this.cached.policies;
    const policies = (await this.policies.enabledWithTrigger('event_based', trx)).map((policy) => ({
      policy,
      selector: new ArtifactSelector(policy.filters),
    }));
    this.cached = { policies, at: Date.now() };
    return policies;
  }
}

type Replicable = Extract<MetadataChange, { type: 'manifest.stored' | 'tag.deleted' | 'manifest.deleted' }>;

function isReplicable(change: MetadataChange): change is Replicable {
  return change.type === 'manifest.stored' || change.type === 'tag.deleted' || change.type === 'manifest.deleted';
}

function triggerOf(
  change: Replicable,
  policy: ReplicationPolicy,
  selector: ArtifactSelector,
): { operation: 'copy' | 'deletion'; reference: string; digest: string } | undefined {
  switch (change.type) {
    case 'manifest.stored':
      if (change.tag !== undefined) {
        // The same digest under the same tag again: nothing new to send.
        if (change.tag.previousDigest === change.digest || !selector.acceptsTag(change.tag.name)) return undefined;
        return { operation: 'copy', reference: change.tag.name, digest: change.digest };
      }
      if (change.subjectDigest === undefined || !change.newInRepository) return undefined;
      return { operation: 'copy', reference: change.digest, digest: change.digest };
    case 'tag.deleted':
      if (!policy.deletion || !selector.acceptsTag(change.tag)) return undefined;
      return { operation: 'deletion', reference: change.tag, digest: change.digest };
    case 'manifest.deleted':
      if (!policy.deletion) return undefined;
      return { operation: 'deletion', reference: change.digest, digest: change.digest };
  }
}
