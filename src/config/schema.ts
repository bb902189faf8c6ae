import { z } from 'zod';
import {
  absoluteUrl,
  duration,
  flag,
  headerMap,
  integer,
  listenAddress,
  nonEmptyText,
  oneOf,
  text,
  textList,
  urlPath,
} from './scalars.ts';

/** A mapping of known keys; unknown keys are errors, a missing section takes its keys' defaults. */
function section<Shape extends z.ZodRawShape>(shape: Shape) {
  const mapping = z.strictObject(shape);
  // Every key has a default or is optional, so an absent section is the empty mapping.
  return mapping.prefault({} as z.input<typeof mapping>);
}

const minute = 60_000;
const hour = 3_600_000;

/**
 * TLS needs both files; half a TLS configuration (or client CAs without TLS) must not start a
 * plain-HTTP registry that its operator believes is encrypted or checks client certificates.
 */
function requireCertificateAndKey(
  tls: { certificate?: string; key?: string; clientcas: string[] },
  context: z.core.$RefinementCtx<unknown>,
): void {
  const problem = (key: string, message: string) => {
    context.addIssue({ code: 'custom', path: [key], message, input: undefined });
  };
  if (tls.certificate !== undefined && tls.key === undefined) {
    problem('key', 'is required when http.tls.certificate is set');
  } else if (tls.key !== undefined && tls.certificate === undefined) {
    problem('certificate', 'is required when http.tls.key is set');
  } else if (tls.certificate === undefined && tls.clientcas.length > 0) {
    problem('clientcas', 'client certificates need TLS: set http.tls.certificate and http.tls.key');
  }
}

export const defaultHttpHeaders: Readonly<Record<string, string[]>> = { 'X-Content-Type-Options': ['nosniff'] };

/**
 * The keys Wharf implements, their types and defaults. Keys of CNCF Distribution that Wharf does not
 * implement yet are listed in distribution-keys.ts; everything else is an error.
 */
export const configSchema = z.strictObject({
  version: text()
    .refine((version) => version === '0.1', {
      error: (issue) => `unsupported version ${JSON.stringify(issue.input)}; the only configuration version is "0.1"`,
    })
    .default('0.1'),
  log: section({
    level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], {
      ignoreCase: true,
      aliases: { warning: 'warn', panic: 'fatal' },
    }).default('info'),
    formatter: oneOf(['text', 'json']).default('text'),
    fields: z.record(z.string(), text()).default(() => ({})),
    accesslog: section({ disabled: flag().default(false) }),
  }),
  http: section({
    addr: listenAddress('http.addr').default(':5000'),
    host: absoluteUrl().optional(),
    secret: text().optional(),
    headers: headerMap().default(() => structuredClone(defaultHttpHeaders)),
    debug: section({
      addr: listenAddress('http.debug.addr').optional(),
      prometheus: section({ enabled: flag().default(true), path: urlPath().default('/metrics') }),
    }),
    tls: section({
      certificate: nonEmptyText().optional(),
      key: nonEmptyText().optional(),
      clientcas: textList().default(() => []),
      minimumtls: oneOf(['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3']).default('tls1.2'),
      ciphersuites: textList().optional(),
    }).superRefine(requireCertificateAndKey),
    http2: section({ disabled: flag().default(false) }),
  }),
  storage: section({
    filesystem: section({
      rootdirectory: nonEmptyText().default('./data'),
      maxthreads: integer({ min: 1 }).default(100),
    }),
    delete: section({ enabled: flag().default(true) }),
    cache: section({
      blobdescriptor: oneOf(['inmemory', 'redis']).optional(),
      blobdescriptorsize: integer({ min: 0 }).default(10_000),
    }),
    maintenance: section({
      readonly: section({ enabled: flag().default(false) }),
      uploadpurging: section({
        enabled: flag().default(true),
        age: duration().default(168 * hour),
        interval: duration({ positive: true }).default(24 * hour),
        dryrun: flag().default(false),
      }),
    }),
    redirect: section({ disable: flag().default(false) }),
  }),
  database: section({ path: nonEmptyText().optional() }),
  auth: section({
    // Distribution's keys.
    htpasswd: z.strictObject({ realm: text().default('Registry Realm'), path: nonEmptyText() }).optional(),
    token: z
      .strictObject({
        realm: absoluteUrl(),
        service: nonEmptyText(),
        issuer: nonEmptyText(),
        rootcertbundle: nonEmptyText().optional(),
        jwks: nonEmptyText().optional(),
        autoredirect: flag().default(false),
        signingalgorithms: textList().optional(),
      })
      .optional(),
    // Wharf's keys.
    basic: section({ enabled: flag().default(true) }),
    anonymous: section({ pull: flag().default(false) }),
    projects: section({ enabled: flag().default(false) }),
    autocreateprojects: flag().default(false),
    tokenservice: section({
      enabled: flag().optional(),
      issuer: nonEmptyText().default('wharf'),
      service: nonEmptyText().optional(),
      expiration: duration({ positive: true }).default(5 * minute),
      refreshexpiration: duration({ positive: true }).default(30 * 24 * hour),
      key: nonEmptyText().optional(),
      algorithm: oneOf(['ES256', 'RS256']).default('ES256'),
    }),
    ldap: z
      .strictObject({
        url: nonEmptyText(),
        binddn: text().optional(),
        bindpassword: text().optional(),
        basedn: nonEmptyText(),
        filter: text().default('(objectClass=*)'),
        userattribute: nonEmptyText().default('uid'),
        groupattribute: nonEmptyText().default('memberOf'),
        groupbasedn: text().optional(),
        groupfilter: text().optional(),
        groupnameattribute: nonEmptyText().default('cn'),
        admingroup: text().optional(),
        starttls: flag().default(false),
        cacert: nonEmptyText().optional(),
        insecureskipverify: flag().default(false),
        timeout: duration({ positive: true }).default(5_000),
      })
      .optional(),
    oidc: z
      .strictObject({
        issuer: absoluteUrl(),
        clientid: nonEmptyText(),
        clientsecret: text().optional(),
        redirecturl: absoluteUrl().optional(),
        scopes: textList().default(() => ['openid', 'profile', 'email']),
        usernameclaim: nonEmptyText().default('preferred_username'),
        groupsclaim: nonEmptyText().default('groups'),
        admingroup: text().optional(),
      })
      .optional(),
    lockout: section({
      attempts: integer({ min: 1 }).default(5),
      window: duration({ positive: true }).default(15 * minute),
      duration: duration({ positive: true }).default(15 * minute),
    }),
    admin: section({ password: text().optional() }),
  }),
  health: section({
    storagedriver: section({
      enabled: flag().default(true),
      // Distribution: an interval of 0 means the default, a threshold of 0 means a single failure.
      interval: duration()
        .transform((milliseconds) => (milliseconds === 0 ? 10_000 : milliseconds))
        .default(10_000),
      threshold: integer({ min: 0 })
        .transform((count) => Math.max(count, 1))
        .default(3),
    }),
  }),
});

export type ParsedConfig = z.output<typeof configSchema>;

/** The smallest storage.filesystem.maxthreads Distribution allows; smaller values are raised to it. */
export const minimumFilesystemThreads = 25;
