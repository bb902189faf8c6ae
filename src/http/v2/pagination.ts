import type { Page } from '../../metadata/metadata-store.ts';
import { RegistryError } from '../../oci/errors.ts';

export interface PageRequest extends Page {
  /** `n` as the client gave it, to repeat in the next link. */
  requested: number | undefined;
}

/** `?n=&last=` as the distribution-spec defines them for tags and catalog listings. */
export function parsePage(query: URLSearchParams, defaultLimit: number, maxLimit: number): PageRequest {
  const n = query.get('n');
  const last = query.get('last') ?? undefined;
  if (n === null || n === '') return { limit: defaultLimit, after: last, requested: undefined };
  if (!/^\d+$/.test(n)) {
    throw new RegistryError('PAGINATION_NUMBER_INVALID', `invalid number of results requested: "${n.slice(0, 20)}"`, {
      detail: { n },
    });
  }
  const requested = Number(n);
  return { limit: Math.min(requested, maxLimit), after: last, requested };
}

/** `Link: <path?n=…&last=…>; rel="next"` when the page was full. */
export function nextLink(
  path: string,
  page: PageRequest,
  items: string[],
  extra: Record<string, string> = {},
): string | undefined {
  if (items.length === 0 || items.length < page.limit) return undefined;
  const params = new URLSearchParams(extra);
  params.set('n', String(page.requested ?? page.limit));
  params.set('last', items.at(-1)!);
  return `<${path}?${params.toString()}>; rel="next"`;
}
