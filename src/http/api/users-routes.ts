import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { LoginLimiter } from '../../auth/auth-services.ts';
import type { LocalUser, LocalUsers } from '../../auth/identities/local-users.ts';
import type { Principal } from '../../auth/principal.ts';
import { RegistryError } from '../../oci/errors.ts';
import { forbidden, translateIdentityErrors } from './api-errors.ts';
import { type ApiRoute, defineRoute, mountRoutes } from './api-route.ts';
import { pageQuerySchema, timestamp, timestampSchema } from './common-schemas.ts';
import { pageHeaders, pageWindow } from './paging.ts';

export interface UserRoutesDependencies {
  users: LocalUsers;
  /** Who is calling (Basic, Bearer or client certificate); anonymous when nothing was sent. */
  identify(request: FastifyRequest): Promise<Principal>;
  /** The 401 for a caller that must authenticate, with the registry's challenge. */
  unauthorized(message: string): RegistryError;
  /** Counts wrong old passwords on a password change as failed logins. */
  limiter?: LoginLimiter;
  /** Drops what is cached about an account (credentials, UI sessions) once it changes. */
  credentialsChanged?(name: string): void;
}

const usernameSchema = z.string().min(1).max(255).meta({ example: 'alice' });
const emailSchema = z.string().max(254).nullable().meta({ example: 'alice@example.com' });
const passwordSchema = z.string().min(1).max(1024);

const userPathSchema = z.object({ name: usernameSchema });

const newUserSchema = z.strictObject({
  username: usernameSchema.describe('lower-case letters, digits, ".", "_" or "-"; 1 to 64 characters'),
  password: passwordSchema.describe('at least 8 characters'),
  email: emailSchema.optional(),
  admin: z.boolean().default(false).describe('system administrator'),
});

const userChangesSchema = z
  .strictObject({
    email: emailSchema.optional(),
    admin: z.boolean().optional(),
    disabled: z.boolean().optional().describe('a disabled user cannot log in'),
    password: passwordSchema.optional(),
  })
  .refine((changes) => Object.values(changes).some((value) => value !== undefined), {
    message: 'nothing to change',
  });

const passwordChangeSchema = z.strictObject({ old_password: passwordSchema, new_password: passwordSchema });

const userSchema = z.object({
  user_id: z.number().int(),
  username: z.string(),
  email: z.string().nullable(),
  admin: z.boolean(),
  disabled: z.boolean(),
  source: z.string().describe('"local", or the identity provider that created the user'),
  has_password: z.boolean(),
  created_at: timestampSchema,
  updated_at: timestampSchema,
  password_changed_at: timestampSchema.nullable(),
});

const currentUserSchema = z.object({
  username: z.string(),
  source: z.string().describe('local, htpasswd, ldap, oidc, robot, certificate or token'),
  admin: z.boolean(),
  groups: z.array(z.string()),
  email: z.string().nullable(),
  can_change_password: z.boolean().describe('whether PUT /users/current/password applies to this caller'),
});

const pageHeaderDocs = {
  'X-Total-Count': 'how many users there are across all pages',
  Link: 'RFC 8288 links to the previous and next pages (rel="prev", rel="next")',
};

const errorResponses = {
  unauthorized: { status: 401, description: 'authentication required' },
  forbidden: { status: 403, description: 'the caller is not a system administrator' },
  notFound: { status: 404, description: 'no such user' },
} as const;

/** The users of the management API: administrators manage everyone, every user sees and re-keys itself. */
export function userRoutes(deps: UserRoutesDependencies): ApiRoute[] {
  const { users } = deps;
  return [
    defineRoute({
      method: 'GET',
      path: '/users',
      operationId: 'listUsers',
      summary: 'List local users',
      tag: 'users',
      anonymous: false,
      query: pageQuerySchema,
      responses: [
        { status: 200, description: 'a page of users', schema: z.array(userSchema), headers: pageHeaderDocs },
        errorResponses.unauthorized,
        errorResponses.forbidden,
      ],
      async handler({ request, principal, query }) {
        requireAdmin(principal);
        const all = await users.list();
        const { offset, limit } = pageWindow(query);
        return {
          status: 200,
          body: all.slice(offset, offset + limit).map(userBody),
          headers: pageHeaders(request, query, all.length),
        };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/users',
      operationId: 'createUser',
      summary: 'Create a local user',
      tag: 'users',
      anonymous: false,
      body: newUserSchema,
      responses: [
        { status: 201, description: 'created', schema: userSchema, headers: { Location: 'the new user' } },
        { status: 400, description: 'invalid username, password or email' },
        errorResponses.unauthorized,
        errorResponses.forbidden,
        { status: 409, description: 'the username is taken' },
      ],
      async handler({ principal, body }) {
        requireAdmin(principal);
        const user = await translateIdentityErrors(() => users.create(body));
        return {
          status: 201,
          body: userBody(user),
          headers: { Location: `/api/v1/users/${encodeURIComponent(user.username)}` },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/users/current',
      operationId: 'getCurrentUser',
      summary: 'The calling user',
      tag: 'users',
      anonymous: false,
      responses: [{ status: 200, description: 'the caller', schema: currentUserSchema }, errorResponses.unauthorized],
      async handler({ principal }) {
        const kept = principal.source === 'local' || principal.source === 'oidc';
        const stored = kept ? await users.find(principal.name) : undefined;
        return {
          status: 200,
          body: {
            username: principal.name,
            source: principal.source,
            admin: principal.admin,
            groups: [...principal.groups],
            email: stored?.email ?? null,
            can_change_password: principal.source === 'local' && stored?.hasPassword === true,
          } satisfies z.output<typeof currentUserSchema>,
        };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/users/current/password',
      operationId: 'changeCurrentUserPassword',
      summary: "Change the caller's own password",
      tag: 'users',
      anonymous: false,
      body: passwordChangeSchema,
      responses: [
        { status: 204, description: 'changed' },
        { status: 400, description: 'the new password is not acceptable' },
        errorResponses.unauthorized,
        { status: 403, description: 'the old password is wrong, or the caller has no local password' },
        { status: 429, description: 'too many wrong old passwords', headers: { 'Retry-After': 'seconds to wait' } },
      ],
      async handler({ request, principal, body }) {
        if (principal.source !== 'local') {
          throw forbidden(`the password of a ${principal.source} account is not managed by this registry`);
        }
        const wait = (await deps.limiter?.retryAfter(principal.name, request.ip)) ?? 0;
        if (wait > 0) {
          throw new RegistryError('TOOMANYREQUESTS', `too many failed attempts; retry in ${wait} s`, {
            headers: { 'Retry-After': String(wait) },
          });
        }
        const check = await users.verifyPassword(principal.name, body.old_password);
        if (check.outcome !== 'valid') {
          await deps.limiter?.recordFailure(principal.name, request.ip);
          throw forbidden('the old password is wrong');
        }
        await deps.limiter?.recordSuccess(principal.name, request.ip);
        await translateIdentityErrors(() => users.setPassword(principal.name, body.new_password));
        deps.credentialsChanged?.(principal.name);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/users/{name}',
      operationId: 'getUser',
      summary: 'One local user',
      tag: 'users',
      anonymous: false,
      params: userPathSchema,
      responses: [
        { status: 200, description: 'the user', schema: userSchema },
        errorResponses.unauthorized,
        errorResponses.forbidden,
        errorResponses.notFound,
      ],
      async handler({ principal, params }) {
        requireAdmin(principal);
        return { status: 200, body: userBody(await translateIdentityErrors(() => users.get(params.name))) };
      },
    }),
    defineRoute({
      method: 'PATCH',
      path: '/users/{name}',
      operationId: 'updateUser',
      summary: "Change a user's email, administrator flag, disabled flag or password",
      tag: 'users',
      anonymous: false,
      params: userPathSchema,
      body: userChangesSchema,
      responses: [
        { status: 200, description: 'the changed user', schema: userSchema },
        { status: 400, description: 'invalid email or password' },
        errorResponses.unauthorized,
        errorResponses.forbidden,
        errorResponses.notFound,
        { status: 409, description: 'the change would leave no enabled administrator' },
      ],
      async handler({ principal, params, body }) {
        requireAdmin(principal);
        if (body.disabled === true && isSelf(principal, params.name)) throw forbidden('you cannot disable yourself');
        const user = await translateIdentityErrors(() => users.update(params.name, body));
        deps.credentialsChanged?.(params.name);
        return { status: 200, body: userBody(user) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/users/{name}',
      operationId: 'deleteUser',
      summary: 'Delete a local user',
      tag: 'users',
      anonymous: false,
      params: userPathSchema,
      responses: [
        { status: 204, description: 'deleted' },
        errorResponses.unauthorized,
        errorResponses.forbidden,
        errorResponses.notFound,
        { status: 409, description: 'the user is the last enabled administrator' },
      ],
      async handler({ principal, params }) {
        requireAdmin(principal);
        if (isSelf(principal, params.name)) throw forbidden('you cannot delete yourself');
        await translateIdentityErrors(() => users.remove(params.name));
        deps.credentialsChanged?.(params.name);
        return { status: 204 };
      },
    }),
  ];
}

/** Mounts the user routes below /api/v1. */
export function registerUserRoutes(app: FastifyInstance, deps: UserRoutesDependencies): void {
  app.register(
    async (api) => {
      mountRoutes(api, userRoutes(deps), { identify: deps.identify, unauthorized: deps.unauthorized });
    },
    { prefix: '/api/v1' },
  );
}

export function userBody(user: LocalUser): z.output<typeof userSchema> {
  return {
    user_id: user.id,
    username: user.username,
    email: user.email,
    admin: user.admin,
    disabled: user.disabled,
    source: user.source,
    has_password: user.hasPassword,
    created_at: timestamp(user.createdAt),
    updated_at: timestamp(user.updatedAt),
    password_changed_at: user.passwordChangedAt === null ? null : timestamp(user.passwordChangedAt),
  };
}

function requireAdmin(principal: Principal): void {
  if (!principal.admin) throw forbidden('only system administrators may manage users');
}

function isSelf(principal: Principal, username: string): boolean {
  return principal.source === 'local' && principal.name === username;
}
