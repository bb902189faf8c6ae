import type { Kysely, SelectQueryBuilder, Transaction } from 'kysely';
import { isPostgres } from '../../metadata/migrations/column-types.ts';
import type { Database } from '../../metadata/schema.ts';
import { chunked, inProject } from '../project-scope.ts';
import { scopeKey, type Usage, type UsageScope } from './usage-scope.ts';

type Executor = Kysely<Database> | Transaction<Database>;

/**
 * What a scope holds, counted from scratch: every distinct blob that a manifest of the scope
 * references, once, plus every manifest (each repository's copy), which is also the artifact count.
 * Blobs that no manifest references (an upload whose push never finished) are not counted.
 */
export async function measureUsage(executor: Executor, scope: UsageScope): Promise<Usage> {
  const manifests = await executor
    .selectFrom('manifests')
    .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
    .$call((query) => withinScope(query, scope))
    .select((eb) => [
      eb.fn.countAll<number | string>().as('count'),
      eb.fn.coalesce(eb.fn.sum<number | string>('manifests.size'), eb.lit(0)).as('bytes'),
    ])
    .executeTakeFirstOrThrow();
  const referenced = executor
    .selectFrom('manifest_blobs')
    .innerJoin('manifests', 'manifests.id', 'manifest_blobs.manifest_id')
    .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
    .$call((query) => withinScope(query, scope))
    .select('manifest_blobs.digest');
  const blobs = await executor
    .selectFrom('blobs')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number | string>('blobs.size'), eb.lit(0)).as('bytes'))
    .where('blobs.digest', 'in', referenced)
    .executeTakeFirstOrThrow();
  return { bytes: Number(manifests.bytes) + Number(blobs.bytes), artifacts: Number(manifests.count) };
}

/**
 * Those of `digests` that no manifest of the scope references, `except` the manifest named (the
 * one being stored), with their bytes: what storing or deleting a manifest adds to or frees in the
 * scope.
 */
export async function unsharedBlobs(
  executor: Executor,
  scope: UsageScope,
  digests: readonly string[],
  except?: { repository: string; digest: string },
): Promise<{ bytes: number; digests: string[] }> {
  let bytes = 0;
  const unshared: string[] = [];
  for (const chunk of chunked([...new Set(digests)])) {
    const rows = await executor
      .selectFrom('blobs')
      .select(['blobs.digest', 'blobs.size'])
      .where('blobs.digest', 'in', chunk)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('manifest_blobs')
              .innerJoin('manifests', 'manifests.id', 'manifest_blobs.manifest_id')
              .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
              .select('manifest_blobs.manifest_id')
              .whereRef('manifest_blobs.digest', '=', 'blobs.digest')
              .$call((query) => withinScope(query, scope))
              .$if(except !== undefined, (query) =>
                query.where((inner) =>
                  inner.not(
                    inner.and([
                      inner('repositories.name', '=', except?.repository ?? ''),
                      inner('manifests.digest', '=', except?.digest ?? ''),
                    ]),
                  ),
                ),
              ),
          ),
        ),
      )
      .execute();
    for (const row of rows) {
      bytes += Number(row.size);
      unshared.push(row.digest);
    }
  }
  return { bytes, digests: unshared };
}

/**
 * Locks the scope's usage row until the transaction ends (PostgreSQL: FOR UPDATE; SQLite has a
 * single writer), creating it when missing. `fresh` when created now: its zero is then not the
 * scope's usage yet.
 */
export async function lockUsage(
  trx: Transaction<Database>,
  scope: UsageScope,
): Promise<{ usage: Usage; fresh: boolean }> {
  const key = scopeKey(scope);
  const inserted = await trx
    .insertInto('storage_usage')
    .values({ scope: key, bytes: 0, artifacts: 0, updated_at: Date.now() })
    .onConflict((conflict) => conflict.column('scope').doNothing())
    .executeTakeFirst();
  let query = trx.selectFrom('storage_usage').select(['bytes', 'artifacts']).where('scope', '=', key);
  if (isPostgres<Database>(trx)) query = query.forUpdate();
  const row = await query.executeTakeFirstOrThrow();
  return {
    usage: { bytes: Number(row.bytes), artifacts: Number(row.artifacts) },
    fresh: Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0,
  };
}

export async function writeUsage(trx: Transaction<Database>, scope: UsageScope, usage: Usage): Promise<void> {
  await trx
    .updateTable('storage_usage')
    .set({ bytes: usage.bytes, artifacts: usage.artifacts, updated_at: Date.now() })
    .where('scope', '=', scopeKey(scope))
    .execute();
}

/** The recorded usage, without locking; undefined when nothing was recorded yet. */
export async function readUsage(executor: Executor, scope: UsageScope): Promise<Usage | undefined> {
  const row = await executor
    .selectFrom('storage_usage')
    .select(['bytes', 'artifacts'])
    .where('scope', '=', scopeKey(scope))
    .executeTakeFirst();
  return row && { bytes: Number(row.bytes), artifacts: Number(row.artifacts) };
}

function withinScope<Tables extends keyof Database, Output>(
  query: SelectQueryBuilder<Database, Tables, Output>,
  scope: UsageScope,
): SelectQueryBuilder<Database, Tables, Output> {
  return scope.kind === 'project' ? query.where((eb) => inProject(eb, scope.project)) : query;
}
