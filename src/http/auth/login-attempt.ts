import type { FastifyRequest } from 'fastify';

/** How credentials were presented. */
export type LoginMethod = 'basic' | 'bearer' | 'token' | 'password' | 'refresh_token' | 'oidc';

/** Why an authentication failed: the `reason` label of `wharf_auth_failures_total`. */
export type LoginFailureReason =
  | 'invalid_credentials'
  | 'locked_out'
  | 'invalid_token'
  | 'malformed_credentials'
  | 'unsupported_scheme'
  | 'oidc_error';

export type LoginAttempt =
  | { outcome: 'success'; username: string; method: LoginMethod; source: string }
  | { outcome: 'failure'; username: string; method: LoginMethod; reason: LoginFailureReason };

declare module 'fastify' {
  interface FastifyRequest {
    /** A login this request made (credentials checked, not a remembered login), for the audit log and metrics. */
    loginAttempt?: LoginAttempt;
  }
}

/** Notes the login a request made; the audit trail records it when the response is sent. */
export function noteLoginAttempt(request: FastifyRequest, attempt: LoginAttempt): void {
  request.loginAttempt = attempt;
}
