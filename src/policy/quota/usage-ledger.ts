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
  return async (trx, change) => {
    switch (change.type) {
      case 'blob.committed':
      case 'blob.mounted':
        for (const scope of scopesOf(change.repository)) {
          await checkBlob(trx, scope, change.digest, change.size, options.registryQuotaBytes);
        }
        return;
      case 'manifest.stored':
        if (!change.newInRepository) return;
        for (const scope of scopesOf(change.repository))
          await record(trx, scope, change, 1, options.registryQuotaBytes);
        return;
      case 'manifest.deleted':
        for (const scope of scopesOf(change.repository))
          await record(trx, scope, change, -1, options.registryQuotaBytes);
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
): Promise<void> {
  const { usage, fresh } = await lockUsage(trx, scope);
  const released = sign < 0 ? releasedIn(trx, scope) : undefined;
  const candidates = released ? manifest.blobDigests.filter((digest) => !released.has(digest)) : manifest.blobDigests;
  const blobs = await unsharedBlobs(trx, scope, candidates, manifest);
  for (const digest of blobs.digests) released?.add(digest);
  const change: Usage = { bytes: sign * (manifest.size + blobs.bytes), artifacts: sign };
  // A row created now starts from the scope's contents, which already include this write.
  const before = fresh ? minus(await measureUsage(trx, scope), change) : usage;
  if (sign > 0) assertWithin(scope, before, change, await limitsOf(trx, scope, registryQuotaBytes));
  await writeUsage(trx, scope, { bytes: before.bytes + change.bytes, artifacts: before.artifacts + change.artifacts });
}

async function checkBlob(
  trx: Transaction<Database>,
  scope: UsageScope,
  digest: string,
  size: number,
  registryQuotaBytes: number | undefined,
): Promise<void> {
  const limits = await limitsOf(trx, scope, registryQuotaBytes);
  if (limits.bytes === null) return;
  if ((await unsharedBlobs(trx, scope, [digest])).digests.length === 0) return;
  const used = (await readUsage(trx, scope)) ?? { bytes: 0, artifacts: 0 };
  assertWithin(scope, used, { bytes: size, artifacts: 0 }, { bytes: limits.bytes, artifacts: null });
}

function assertWithin(scope: UsageScope, used: Usage, change: Usage, limits: QuotaLimits): void {
  if (change.bytes > 0 && limits.bytes !== null && used.bytes + change.bytes > limits.bytes) {
    throw quotaExceeded(scope, 'bytes', used.bytes, limits.bytes, change.bytes);
  }
  if (change.artifacts > 0 && limits.artifacts !== null && used.artifacts + change.artifacts > limits.artifacts) {
    throw quotaExceeded(scope, 'artifacts', used.artifacts, limits.artifacts, change.artifacts);
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
