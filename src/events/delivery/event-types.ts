import type { EventAction } from '../event.ts';

/**
 * Each action's name in the three payload formats. Harbor's webhook types and CloudEvents types are
 * Harbor's own where Harbor has the event, so receivers written for Harbor work unchanged; events
 * Harbor does not send get names in the same style.
 */
interface ActionNames {
  /** Distribution's `action`, for the events Distribution sends; others are not sent in its format. */
  distribution: 'push' | 'pull' | 'mount' | 'delete' | undefined;
  /** A webhook policy's event type and the Harbor payload's `type`. */
  webhook: string;
  cloudEvents: string;
}

const names: Record<EventAction, ActionNames> = {
  'manifest.pushed': { distribution: 'push', webhook: 'PUSH_ARTIFACT', cloudEvents: 'harbor.artifact.pushed' },
  'manifest.pulled': { distribution: 'pull', webhook: 'PULL_ARTIFACT', cloudEvents: 'harbor.artifact.pulled' },
  'manifest.deleted': { distribution: 'delete', webhook: 'DELETE_ARTIFACT', cloudEvents: 'harbor.artifact.deleted' },
  'tag.created': { distribution: undefined, webhook: 'CREATE_TAG', cloudEvents: 'wharf.tag.created' },
  'tag.moved': { distribution: undefined, webhook: 'MOVE_TAG', cloudEvents: 'wharf.tag.moved' },
  'tag.deleted': { distribution: 'delete', webhook: 'DELETE_TAG', cloudEvents: 'wharf.tag.deleted' },
  'blob.pushed': { distribution: 'push', webhook: 'PUSH_BLOB', cloudEvents: 'wharf.blob.pushed' },
  'blob.pulled': { distribution: 'pull', webhook: 'PULL_BLOB', cloudEvents: 'wharf.blob.pulled' },
  'blob.mounted': { distribution: 'mount', webhook: 'MOUNT_BLOB', cloudEvents: 'wharf.blob.mounted' },
  'blob.deleted': { distribution: 'delete', webhook: 'DELETE_BLOB', cloudEvents: 'wharf.blob.deleted' },
  'repository.created': {
    distribution: undefined,
    webhook: 'CREATE_REPOSITORY',
    cloudEvents: 'wharf.repository.created',
  },
  'repository.deleted': {
    distribution: 'delete',
    webhook: 'DELETE_REPOSITORY',
    cloudEvents: 'wharf.repository.deleted',
  },
  'project.created': { distribution: undefined, webhook: 'CREATE_PROJECT', cloudEvents: 'wharf.project.created' },
  'project.deleted': { distribution: undefined, webhook: 'DELETE_PROJECT', cloudEvents: 'wharf.project.deleted' },
  'scan.completed': { distribution: undefined, webhook: 'SCANNING_COMPLETED', cloudEvents: 'harbor.scan.completed' },
  'quota.exceeded': { distribution: undefined, webhook: 'QUOTA_EXCEED', cloudEvents: 'harbor.quota.exceeded' },
  'quota.near': { distribution: undefined, webhook: 'QUOTA_WARNING', cloudEvents: 'harbor.quota.warned' },
  'retention.finished': {
    distribution: undefined,
    webhook: 'TAG_RETENTION',
    cloudEvents: 'harbor.tag_retention.finished',
  },
  'gc.finished': { distribution: undefined, webhook: 'GC_COMPLETED', cloudEvents: 'wharf.gc.finished' },
  'replication.finished': {
    distribution: undefined,
    webhook: 'REPLICATION',
    cloudEvents: 'harbor.replication.status.changed',
  },
  'login.failed': { distribution: undefined, webhook: 'LOGIN_FAILED', cloudEvents: 'wharf.login.failed' },
};

export function distributionAction(action: EventAction): ActionNames['distribution'] {
  return names[action].distribution;
}

export function webhookEventType(action: EventAction): string {
  return names[action].webhook;
}

export function cloudEventType(action: EventAction): string {
  return names[action].cloudEvents;
}

/** Every webhook event type a policy may subscribe to, in the order of the actions. */
export const webhookEventTypes: readonly string[] = Object.values(names).map((entry) => entry.webhook);
