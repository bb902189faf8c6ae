/**
 * The header the web UI sends with every request. A cross-site form or image cannot set a custom
 * header, and a cross-site script cannot send one without a CORS preflight this server never
 * grants, so a cookie-authenticated request that changes something must carry it.
 */
export const csrfHeader = 'x-wharf-csrf';

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

export function changesState(method: string): boolean {
  return !safeMethods.has(method.toUpperCase());
}
