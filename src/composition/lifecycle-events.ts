import { projectOf } from '../events/event.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { Logger } from '../observability/logger.ts';
import type { QuotaNotice, QuotaNotices } from '../policy/quota/usage-ledger.ts';
import type { FinishedRun } from '../policy/retention/retention-runner.ts';

/**
 * `quota.near` inside the write that reached the threshold (it exists only if the write commits);
 * `quota.exceeded` in a transaction of its own, since the refused write's transaction rolls back.
 */
export function quotaEvents(publisher: EventPublisher, logger: Logger): QuotaNotices & { settled(): Promise<void> } {
  const pending = new Set<Promise<unknown>>();
  return {
    async near(trx, notice) {
      await publisher.publishIn(trx, { action: 'quota.near', ...eventOf(notice) });
    },
    refused(notice) {
      // Created now, in the request's context (the caller is the actor); written once the database
      // takes another transaction, apart from the one that is rolled back.
      const published = publisher
        .publish({ action: 'quota.exceeded', ...eventOf(notice) })
        .catch((error: unknown) => {
          logger.error({ err: error, repository: notice.repository }, 'could not record a quota.exceeded event');
        })
        .finally(() => pending.delete(published));
      pending.add(published);
    },
    /** Resolves once the quota.exceeded events under way are written: before the database closes. */
    async settled() {
      await Promise.allSettled([...pending]);
    },
  };
}

function eventOf(notice: QuotaNotice) {
  const details: Record<string, string | number> = {
    scope: notice.scope.kind,
    resource: notice.resource,
    used: notice.used,
    limit: notice.limit,
  };
  if (notice.needed !== undefined) details.needed = notice.needed;
  return {
    target: { project: projectOf(notice.repository), repository: notice.repository, digest: notice.digest },
    details,
  };
}

/** `retention.finished` for every recorded run, dry runs included. */
export function retentionEvents(publisher: EventPublisher): (run: FinishedRun) => Promise<void> {
  return async (run) => {
    await publisher.publish({
      action: 'retention.finished',
      target: { project: run.project },
      details: {
        run: run.id,
        trigger: run.trigger,
        triggeredBy: run.triggeredBy,
        dryRun: run.dryRun,
        status: run.totals.status,
        total: run.totals.total,
        retained: run.totals.retained,
        deleted: run.totals.deleted,
        failed: run.totals.failed,
        bytesFreed: run.totals.bytesFreed,
        error: run.totals.error,
      },
    });
  };
}
