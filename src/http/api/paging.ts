import type { FastifyRequest } from 'fastify';
import type { PageQuery } from './common-schemas.ts';

/**
 * `X-Total-Count` and `Link` (rel="prev"/"next") for a page of a list, as Harbor's API sends them;
 * the links keep every other query parameter of the request.
 */
export function pageHeaders(request: FastifyRequest, page: PageQuery, total: number): Record<string, string> {
  const headers: Record<string, string> = { 'X-Total-Count': String(total) };
  const url = new URL(request.url, 'http://localhost');
  const link = (number: number) => {
    const params = new URLSearchParams(url.searchParams);
    params.set('page', String(number));
    params.set('page_size', String(page.page_size));
    return `<${url.pathname}?${params.toString()}>`;
  };
  const links: string[] = [];
  if (page.page > 1) links.push(`${link(page.page - 1)}; rel="prev"`);
  if (page.page * page.page_size < total) links.push(`${link(page.page + 1)}; rel="next"`);
  if (links.length > 0) headers.Link = links.join(', ');
  return headers;
}

export function pageWindow(page: PageQuery): { offset: number; limit: number } {
  return { offset: (page.page - 1) * page.page_size, limit: page.page_size };
}
