import type { Kysely } from 'kysely';
import type { Database } from '../metadata/schema.ts';
import type { Logger } from '../observability/logger.ts';

/** A manifest's pull time is written at most this often, by this instance and (through the WHERE) by any. */
export const pullRecordIntervalMs = 60_000;
/** Past this many remembered manifests, those not pulled within the interval are forgotten. */
const rememberedLimit = 50_000;

/**
 * Records when manifests were last pulled (for retention's "pulled within" rules) without a write
 * per pull: at most one UPDATE per manifest per minute per instance, which changes nothing when
 * another instance recorded a pull in that minute already. The write happens after the answer, off
 * the pull's path; a failure is logged and the next pull tries again.
 */
export class PullRecorder {
  private readonly recorded = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  pulled(repository: string, digest: string): void {
    const now = this.now();
    const key = `${repository}@${digest}`;
    const last = this.recorded.get(key);
    if (last !== undefined && now - last < pullRecordIntervalMs) return;
    if (this.recorded.size >= rememberedLimit) this.forgetOlderThan(now - pullRecordIntervalMs);
    this.recorded.set(key, now);
    const write = this.write(repository, digest, now).catch((error: unknown) => {
      this.recorded.delete(key);
      this.logger.warn({ err: error, repository, digest }, 'could not record a pull time');
    });
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  /** Waits for the writes under way (before the database closes). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private async write(repository: string, digest: string, now: number): Promise<void> {
    await this.db
      .updateTable('manifests')
      .set({ pulled_at: now })
      .where('digest', '=', digest)
      .where('repository_id', '=', (eb) => eb.selectFrom('repositories').select('id').where('name', '=', repository))
      .where((eb) => eb.or([eb('pulled_at', 'is', null), eb('pulled_at', '<=', now - pullRecordIntervalMs)]))
      .execute();
  }

  private forgetOlderThan(time: number): void {
    for (const [key, at] of this.recorded) if (at < time) this.recorded.delete(key);
    // Everything was pulled within the interval: start over rather than grow without bound.
    if (this.recorded.size >= rememberedLimit) this.recorded.clear();
  }
}
