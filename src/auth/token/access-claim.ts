import type { ResourceAccess } from '../access.ts';
import { TokenError } from '../auth-services.ts';

const maxEntries = 1000;

/**
 * Reads a token's `access` claim: a list of `{type, name, actions}`. An absent claim grants nothing;
 * anything of the wrong shape makes the whole token invalid rather than being partly believed.
 */
export function parseAccessClaim(claim: unknown): ResourceAccess[] {
  if (claim === undefined || claim === null) return [];
  if (!Array.isArray(claim)) throw new TokenError('access claim is not a list');
  if (claim.length > maxEntries) throw new TokenError(`access claim has more than ${maxEntries} entries`);
  return claim.map((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) throw new TokenError('access claim entry is not an object');
    const { type, name, actions } = entry as Record<string, unknown>;
    if (typeof type !== 'string' || type === '') throw new TokenError('access claim entry has no type');
    if (typeof name !== 'string' || name === '') throw new TokenError('access claim entry has no name');
    if (actions === undefined || actions === null) return { type, name, actions: [] };
    if (!Array.isArray(actions) || !actions.every((action) => typeof action === 'string')) {
      throw new TokenError('access claim entry has actions that are not strings');
    }
    return { type, name, actions: [...new Set(actions as string[])] };
  });
}
