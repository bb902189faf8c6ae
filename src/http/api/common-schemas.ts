import { z } from 'zod';

/** Epoch milliseconds as the API shows them: ISO 8601 in UTC. */
export const timestampSchema = z.string().meta({ format: 'date-time', example: '2025-01-31T09:30:00.000Z' });

export function timestamp(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** `?page=&page_size=` as Harbor pages its lists: 1-based pages of at most 100. */
export const pageQuerySchema = z.object({
  page: z.coerce.number().int().min(1).default(1).describe('1-based page number'),
  page_size: z.coerce.number().int().min(1).max(100).default(10).describe('items per page, at most 100'),
});

export type PageQuery = z.output<typeof pageQuerySchema>;

export const pageHeaderDocs = {
  'X-Total-Count': 'how many items there are across all pages',
  Link: 'RFC 8288 links to the previous and next pages (rel="prev", rel="next")',
};

/** The error body every /api/v1 and /v2 error has. */
export const errorsSchema = z.object({
  errors: z.array(
    z.object({
      code: z.string().meta({ example: 'NAME_UNKNOWN' }),
      message: z.string(),
      detail: z.unknown().optional(),
    }),
  ),
});
