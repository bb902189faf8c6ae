import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../metadata/schema.ts';
import type { QuotaLimits, UsageScope } from './usage-scope.ts';

/** The columns of `projects` (migrations 003 and 006) quotas use. */
export type ProjectQuotaColumns = {
  projects: { id: number; name: string; quota_bytes: number | null; quota_artifacts: number | null };
};

type Executor = Kysely<Database> | Transaction<Database>;

/** A project's limits are columns of the project; the registry's is `storage.quota`. */
export async function limitsOf(
  executor: Executor,
  scope: UsageScope,
  registryQuotaBytes: number | undefined,
): Promise<QuotaLimits> {
  if (scope.kind === 'registry') return { bytes: registryQuotaBytes ?? null, artifacts: null };
  const row = await executor
    .withTables<ProjectQuotaColumns>()
    .selectFrom('projects')
    .select(['quota_bytes', 'quota_artifacts'])
    .where('name', '=', scope.project)
    .executeTakeFirst();
  return {
    bytes: row?.quota_bytes == null ? null : Number(row.quota_bytes),
    artifacts: row?.quota_artifacts == null ? null : Number(row.quota_artifacts),
  };
}
