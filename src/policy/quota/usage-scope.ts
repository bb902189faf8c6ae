/** Whose usage: one project's (its repositories), or the whole registry's. */
export type UsageScope = { kind: 'project'; project: string } | { kind: 'registry' };

export const registryScope: UsageScope = { kind: 'registry' };

export function projectScope(project: string): UsageScope {
  return { kind: 'project', project };
}

/** The scope's row in `storage_usage`. */
export function scopeKey(scope: UsageScope): string {
  return scope.kind === 'registry' ? 'registry' : `project:${scope.project}`;
}

export function describeScope(scope: UsageScope): string {
  return scope.kind === 'registry' ? 'the registry (storage.quota)' : `project ${scope.project}`;
}

export interface Usage {
  bytes: number;
  artifacts: number;
}

export const noUsage: Usage = { bytes: 0, artifacts: 0 };

/** Upper bounds; null for none. */
export interface QuotaLimits {
  bytes: number | null;
  artifacts: number | null;
}
