import type { ResourceAccess } from './access.ts';
import type { Principal } from './principal.ts';

/**
 * Decides what a principal may do. Given what a request (or a token request) asks for, returns the
 * subset it may have: the intersection of asked and allowed, never more.
 */
export interface Authorizer {
  readonly name: string;
  grant(principal: Principal, requested: readonly ResourceAccess[]): Promise<ResourceAccess[]>;
  /**
   * Which of these repositories the principal may pull (catalog filtering, mount discovery).
   * `undefined` means all of them, without asking one by one.
   */
  pullableRepositories(principal: Principal, repositories: readonly string[]): Promise<string[] | undefined>;
}
