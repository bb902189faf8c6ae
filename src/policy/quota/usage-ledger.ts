import type { Transaction } from 'kysely';
import { projectOf } from '../../auth/projects/project-name.ts';
import type { ChangeListener } from '../../metadata/metadata-changes.ts';
import type { Database } from '../../metadata/schema.ts';
import { RegistryError } from '../../oci/errors.ts';
import { limitsOf } from './quota-limits.ts';
import { lockUsage, measureUsage, readUsage, unsharedBlobs, writeUsage } from './usage-queries.ts';
import {
  describeScope,
  projectScope,
  type QuotaLimits,
  registryScope,
  scopeKey,
  type Usage,
  type UsageScope,
} from './usage-scope.ts';

export interface UsageLedgerOptions {
  /** `storage.quota`: with it the registry's own usage is kept too, and bounded. */
  registryQuotaBytes: number | undefined;
  /** Told of refusals and of usage reaching `quotaNearFraction` of a limit (events). */
  notices?: QuotaNotices;
}

/** The share of a limit whose crossing is announced as "quota near". */
export const quotaNearFraction = 0.9;

/** A quota that refused a write, or whose usage a write brought to `quotaNearFraction` of its limit. */
export interface QuotaNotice {
  scope: UsageScope;
  resource: 'bytes' | 'artifacts';
  /** Refused: the usage before the write. Near: the usage with the write. */
  used: number;
  limit: number;
  /** Refused: what the write would have added. */
  needed?: number;
  repository: string;
  /** The manifest stored, or the blob committed or mounted. */
  digest: string;
}

export interface QuotaNotices {
  /** Inside the write's transaction, so whatever it records commits with the write. */
  near(trx: Transaction<Database>, notice: QuotaNotice): Promise<void>;
  /**
   * The write is being refused and its transaction rolls back: record the refusal elsewhere, never
   * in that transaction. Must not throw.
   */
  refused(notice: QuotaNotice): void;
}

interface ManifestChange {
  repository: string;
  digest: string;
  size: number;
  blobDigests: readonly string[];
}

/**
 * Keeps each project's usage (and, with `storage.quota`, the registry's) exact inside the write
 * transactions, and refuses what would exceed a quota:
 *
 * - a manifest stored in a repository adds its bytes, one artifact, and the blobs it references that
 *   no other manifest of the project references yet; a manifest deleted takes the same away. The
 *   usage row is locked first, so concurrent pushes and deletes in a project take turns there and
 *   each sees what the others committed: the sum never drifts, and never overshoots a quota.
 * - a writer may delete several manifests at once and then report each deletion (garbage
 *   collection does); a stored manifest must be reported before the next one is written.
 * - a blob committed or mounted is counted only once a manifest references it (an interrupted push
 *   consumes nothing), but a blob that alone would exceed the quota is refused at once, so a push
 *   that cannot fit stops at its first layer instead of uploading everything first.
 */
export function usageLedger(options: UsageLedgerOptions): ChangeListener {
  const scopesOf = (repository: string): UsageScope[] => {
    const project = projectScope(projectOf(repository));
    return options.registryQuotaBytes === undefined ? [project] : [project, registryScope];
  };
  const { registryQuotaBytes, notices } = options;
  return async (trx, change) => {
    switch (change.type) {
      case 'blob.committed':
      case 'blob.mounted':
        for (const scope of scopesOf(change.repository)) {
          await checkBlob(trx, scope, change, registryQuotaBytes, notices);
        }
        return;
      case 'manifest.stored':
        if (!change.newInRepository) return;
        for (const scope of scopesOf(change.repository))
          await record(trx, scope, change, 1, registryQuotaBytes, notices);
        return;
      case 'manifest.deleted':
        for (const scope of scopesOf(change.repository)) await record(trx, scope, change, -1, registryQuotaBytes);
        return;
      default:
        return;
    }
  };
}

/**
 * Blobs each transaction released already, per scope. A writer that deletes several manifests in one
 * statement and then reports each (garbage collection) would otherwise release a blob they shared
 * once per manifest: after the statement none of them references it any more.
 */
const releasedBlobs = new WeakMap<Transaction<Database>, Map<string, Set<string>>>();

function releasedIn(trx: Transaction<Database>, scope: UsageScope): Set<string> {
  const byScope = releasedBlobs.get(trx) ?? new Map<string, Set<string>>();
  releasedBlobs.set(trx, byScope);
  const digests = byScope.get(scopeKey(scope)) ?? new Set<string>();
  byScope.set(scopeKey(scope), digests);
  return digests;
}

async function record(
  trx: Transaction<Database>,
  scope: UsageScope,
  manifest: ManifestChange,
  sign: 1 | -1,
  registryQuotaBytes: number | undefined,
  notices?: QuotaNotices,
): Promise<void> {
  const { usage, fresh } = await lockUsage(trx, scope);
  const released = sign < 0 ? releasedIn(trx, scope) : undefined;
  const candidates = released ? manifest.blobDigests.filter((digest) => !released.has(digest)) : manifest.blobDigests;
  const blobs = await unsharedBlobs(trx, scope, candidates, manifest);
  for (const digest of blobs.digests) released?.add(digest);
  const change: Usage = { bytes: sign * (manifest.size + blobs.bytes), artifacts: sign };
  // A row created now starts from the scope's contents, which already include this write.
  const before = fresh ? minus(await measureUsage(trx, scope), change) : usage;
  const after = { bytes: before.bytes + change.bytes, artifacts: before.artifacts + change.artifacts };
  if (sign > 0) {
    const limits = await limitsOf(trx, scope, registryQuotaBytes);
    const about = { repository: manifest.repository, digest: manifest.digest };
    assertWithin(scope, before, change, limits, (notice) => notices?.refused({ ...notice, ...about }));
    for (const resource of ['bytes', 'artifacts'] as const) {
      const limit = limits[resource];
      if (notices === undefined || limit === null) continue;
      const threshold = limit * quotaNearFraction;
      if (before[resource] < threshold && after[resource] >= threshold) {
        await notices.near(trx, { scope, resource, used: after[resource], limit, ...about });
      }
    }
  }
  await writeUsage(trx, scope, after);
}

async function checkBlob(
  trx: Transaction<Database>,
  scope: UsageScope,
  blob: { repository: string; digest: string; size: number },
  registryQuotaBytes: number | undefined,
  notices: QuotaNotices | undefined,
): Promise<void> {
  const limits = await limitsOf(trx, scope, registryQuotaBytes);
  if (limits.bytes === null) return;
  if ((await unsharedBlobs(trx, scope, [blob.digest])).digests.length === 0) return;
  const used = (await readUsage(trx, scope)) ?? { bytes: 0, artifacts: 0 };
  assertWithin(scope, used, { bytes: blob.size, artifacts: 0 }, { bytes: limits.bytes, artifacts: null }, (notice) =>
    notices?.refused({ ...notice, repository: blob.repository, digest: blob.digest }),
  );
}

type Refusal = Omit<QuotaNotice, 'repository' | 'digest'>;

function assertWithin(
  scope: UsageScope,
  used: Usage,
  change: Usage,
  limits: QuotaLimits,
  refused: (refusal: Refusal) => void,
): void {
  for (const resource of ['bytes', 'artifacts'] as const) {
    const limit = limits[resource];
    const needed = change[resource];
    if (needed > 0 && limit !== null && used[resource] + needed > limit) {
      refused({ scope, resource, used: used[resource], limit, needed });
      throw quotaExceeded(scope, resource, used[resource], limit, needed);
    }
  }
}

/** `quota exceeded: used 900 of 1000 bytes in project team; this push needs 200 more`. */
export function quotaExceeded(
  scope: UsageScope,
  resource: 'bytes' | 'artifacts',
  used: number,
  limit: number,
  needed: number,
): RegistryError {
  return new RegistryError(
    'DENIED',
    `quota exceeded: used ${used} of ${limit} ${resource} in ${describeScope(scope)}; this push needs ${needed} more`,
    { detail: { scope: scope.kind === 'project' ? scope.project : 'registry', resource, used, limit, needed } },
  );
}

function minus(usage: Usage, change: Usage): Usage {
  return { bytes: usage.bytes - change.bytes, artifacts: usage.artifacts - change.artifacts };
}
