import type { Kysely } from 'kysely';
import type { Database } from '../../metadata/schema.ts';

export interface TagCheck {
  digest: string;
  checkedAt: number;
}

/**
 * When the upstream last confirmed what a cached tag names. Kept in the database, so every instance
 * sees the same age and the upstream is asked once per TTL whichever instance serves the pull.
 */
export class TagCheckStore {
  constructor(private readonly db: Kysely<Database>) {}

  async find(repository: string, tag: string): Promise<TagCheck | undefined> {
    const row = await this.db
      .selectFrom('proxy_tag_checks')
      .select(['digest', 'checked_at'])
      .where('repository', '=', repository)
      .where('tag', '=', tag)
      .executeTakeFirst();
    return row && { digest: row.digest, checkedAt: Number(row.checked_at) };
  }

  async record(repository: string, tag: string, digest: string, checkedAt = Date.now()): Promise<void> {
    await this.db
      .insertInto('proxy_tag_checks')
      .values({ repository, tag, digest, checked_at: checkedAt })
      .onConflict((conflict) => conflict.columns(['repository', 'tag']).doUpdateSet({ digest, checked_at: checkedAt }))
      .execute();
  }
}
