import { compileGlob, isLiteralGlob } from './glob.ts';
import type { ArtifactFilter, FilterType } from './replication-model.ts';

/**
 * The policy's filters, compiled. An artifact is replicated when every `matches` filter of its kind
 * matches and no `excludes` filter does; a policy without filters of a kind takes everything.
 */
export class ArtifactSelector {
  private readonly compiled: { type: FilterType; exclude: boolean; pattern: RegExp; value: string }[];

  constructor(filters: readonly ArtifactFilter[]) {
    this.compiled = filters
      .filter((filter) => filter.value !== '')
      .map((filter) => ({
        type: filter.type,
        exclude: filter.decoration === 'excludes',
        pattern: compileGlob(filter.value),
        value: filter.value,
      }));
  }

  acceptsRepository(repository: string): boolean {
    return this.accepts('name', repository);
  }

  acceptsTag(tag: string): boolean {
    return this.accepts('tag', tag);
  }

  /**
   * The repository a `matches` name filter names literally (`library/nginx`), when there is one:
   * the catalog then need not be listed at all.
   */
  literalRepository(): string | undefined {
    const names = this.compiled.filter((filter) => filter.type === 'name' && !filter.exclude);
    const literal = names.find((filter) => isLiteralGlob(filter.value));
    return literal?.value;
  }

  private accepts(type: FilterType, text: string): boolean {
    for (const filter of this.compiled) {
      if (filter.type === type && filter.pattern.test(text) === filter.exclude) return false;
    }
    return true;
  }
}

/** Throws with a readable message when a filter's pattern cannot be compiled. */
export function validateFilters(filters: readonly ArtifactFilter[]): void {
  for (const filter of filters) compileGlob(filter.value);
}
