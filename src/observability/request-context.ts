import { AsyncLocalStorage } from 'node:async_hooks';

/** Who is acting, as events and the audit log name them. */
export interface Actor {
  /** The user or robot name; `''` for anonymous callers. */
  name: string;
  /** Where the identity came from (`local`, `robot`, `ldap`, `token`, ...; `system` for background work). */
  kind: string;
}

/**
 * The request (or background job) on whose behalf code runs. The HTTP layer creates it per request
 * and fills `actor` once the caller is identified; layers below read it instead of threading it
 * through every signature.
 */
export interface RequestContext {
  requestId: string;
  sourceAddress: string | undefined;
  userAgent: string | undefined;
  actor: Actor | undefined;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `work` with `context` as the current request context (CLI commands, background jobs). */
export function runWithRequestContext<T>(context: RequestContext, work: () => T): T {
  return storage.run(context, work);
}

/** Makes `context` current for the rest of the calling asynchronous flow (a Fastify hook). */
export function enterRequestContext(context: RequestContext): void {
  storage.enterWith(context);
}
