import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import type { Database } from '../metadata/schema.ts';

/**
 * The repositories of a project, as a condition on `repositories.name`: the name itself or
 * `name/…`. A prefix comparison by substr, not LIKE (`_` is a wildcard there) nor a range
 * (collations other than C may not sort `/` where a byte comparison does).
 */
export function inProject<Tables extends keyof Database>(
  eb: ExpressionBuilder<Database, Tables>,
  project: string,
): Expression<SqlBool> {
  const prefix = `${project}/`;
  const name = sql.ref<string>('repositories.name');
  return eb.or([
    eb(name, '=', project),
    eb(eb.fn<string>('substr', [name, eb.val(1), eb.val(prefix.length)]), '=', prefix),
  ]);
}

/** Bound parameters per statement stay well below every dialect's limit. */
export const digestsPerQuery = 500;

/** `items` in slices of at most `size`. */
export function chunked<T>(items: readonly T[], size: number = digestsPerQuery): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}
