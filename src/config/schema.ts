import { Cron } from 'croner';
import { z } from 'zod';
import { isRepositoryName } from '../oci/reference.ts';
import {
  absoluteUrl,
  addressRangeList,
  duration,
  flag,
  headerMap,
  httpUrl,
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
const mebibyte = 1024 * 1024;

/** S3's limits on a multipart upload part: every part but the last at least 5 MiB, none above 5 GiB. */
export const s3MinimumPartSize = 5 * mebibyte;
export const s3MaximumPartSize = 5 * 1024 * mebibyte;
/** NONE sends no storage class (for S3-compatible stores that reject the header). */
export const s3StorageClasses = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'OUTPOSTS',
  'NONE',
] as const;

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

function postgresUrl() {
  return nonEmptyText().refine((value) => /^postgres(?:ql)?:\/\/./.test(value) && URL.canParse(value), {
    error: 'expected a URL such as "postgres://wharf@db.example.com:5432/wharf"',
  });
}

/**
 * PostgreSQL is chosen by database.url or database.host; a connection key without either, or a
 * SQLite path beside them, is a mistake that would otherwise silently pick the other database.
 */
function requireOneDatabase(
  database: Partial<
    Record<'path' | 'url' | 'host' | 'port' | 'user' | 'password' | 'dbname' | 'sslmode' | 'statementtimeout', unknown>
  >,
  context: z.core.$RefinementCtx<unknown>,
): void {
  const problem = (key: string, message: string) => {
    context.addIssue({ code: 'custom', path: [key], message, input: undefined });
  };
  const postgres = database.url !== undefined || database.host !== undefined;
  if (database.url !== undefined) {
    for (const key of ['host', 'port', 'user', 'dbname'] as const) {
      if (database[key] !== undefined) problem(key, 'is part of database.url: set one or the other');
    }
  }
  if (postgres && database.path !== undefined) {
    problem('path', 'is the SQLite file: remove it when database.url or database.host names PostgreSQL');
  }
  if (!postgres) {
    for (const key of ['port', 'user', 'password', 'dbname', 'sslmode', 'statementtimeout'] as const) {
      if (database[key] !== undefined) problem(key, 'is for PostgreSQL: set database.url or database.host too');
    }
  }
}

/** `host:port` where the host is a name, an IPv4 address or a bracketed IPv6 address. */
const redisAddress = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s:[\]/]+):(\d{1,5})$/;

/**
 * Distribution 2.8 names one server in `redis.addr`, Distribution 3 a list in `redis.addrs`: the
 * sentinels when `mastername` is set, the seed nodes of a Redis Cluster when there are several.
 */
function requireRedisServers(
  redis: { addr?: string; addrs: string[]; mastername?: string; db: number },
  context: z.core.$RefinementCtx<unknown>,
): void {
  const problem = (path: (string | number)[], message: string) => {
    context.addIssue({ code: 'custom', path, message, input: undefined });
  };
  const valid = (address: string) => {
    const port = Number(redisAddress.exec(address)?.[1] ?? 0);
    return port >= 1 && port <= 65_535;
  };
  if (redis.addr !== undefined && !valid(redis.addr)) {
    problem(['addr'], `expected HOST:PORT, got ${JSON.stringify(redis.addr)}`);
  }
  redis.addrs.forEach((address, index) => {
    if (!valid(address)) problem(['addrs', index], `expected HOST:PORT, got ${JSON.stringify(address)}`);
  });
  if (redis.addr !== undefined && redis.addrs.length > 0) problem(['addrs'], 'set redis.addr or redis.addrs, not both');
  const count = redis.addrs.length + (redis.addr === undefined ? 0 : 1);
  if (count === 0) problem(['addrs'], 'is required: the Redis server (or the sentinels, with redis.mastername)');
  if (count > 1 && redis.mastername === undefined && redis.db !== 0) {
    problem(['db'], 'must be 0 for a Redis Cluster (several redis.addrs without redis.mastername)');
  }
}

/** A client certificate needs its key and the other way round. */
function requireRedisCertificateAndKey(
  tls: { certificate?: string; key?: string },
  context: z.core.$RefinementCtx<unknown>,
): void {
  const problem = (key: string, message: string) => {
    context.addIssue({ code: 'custom', path: [key], message, input: undefined });
  };
  if (tls.certificate !== undefined && tls.key === undefined) {
    problem('key', 'is required when redis.tls.certificate is set');
  } else if (tls.key !== undefined && tls.certificate === undefined) {
    problem('certificate', 'is required when redis.tls.key is set');
  }
}

/** Deliveries name their endpoint, so two endpoints of one name would be one. */
function requireUniqueEndpointNames(endpoints: { name: string }[], context: z.core.$RefinementCtx<unknown>): void {
  const seen = new Set<string>();
  endpoints.forEach((endpoint, index) => {
    if (seen.has(endpoint.name)) {
      context.addIssue({
        code: 'custom',
        path: [index, 'name'],
        message: `another endpoint is named ${JSON.stringify(endpoint.name)}; names must be unique`,
        input: endpoint.name,
      });
    }
    seen.add(endpoint.name);
  });
}

/** A repository name or the first components of one (`ghcr`, `mirrors/quay`); slashes at the ends are dropped. */
function repositoryPrefix() {
  return nonEmptyText()
    .transform((value) => value.replace(/^\/+|\/+$/g, ''))
    .refine(isRepositoryName, {
      error:
        'expected a repository name prefix of lower-case letters, digits and separators, such as "ghcr" or "mirrors/quay"',
    });
}

/** Credentials for an upstream are a pair. */
function requireUsernameAndPassword(
  upstream: { username?: string; password?: string },
  context: z.core.$RefinementCtx<unknown>,
): void {
  if ((upstream.username === undefined) !== (upstream.password === undefined)) {
    const missing = upstream.username === undefined ? 'username' : 'password';
    context.addIssue({
      code: 'custom',
      path: [missing],
      message: 'is required with the other credential key',
      input: undefined,
    });
  }
}

/** `policy.signatures.formats`: at least one of the formats the signature gate knows. */
function requireSignatureFormats(formats: string[], context: z.core.$RefinementCtx<unknown>): void {
  if (formats.length === 0) {
    context.addIssue({ code: 'custom', message: 'name at least one of cosign, notation', input: formats });
  }
  formats.forEach((format, index) => {
    if (format !== 'cosign' && format !== 'notation') {
      context.addIssue({
        code: 'custom',
        path: [index],
        message: `unknown signature format ${JSON.stringify(format)}; expected cosign or notation`,
        input: format,
      });
    }
  });
}

/** Verified mode with nothing to verify against would refuse every pull. */
function requireTrustForVerified(
  signatures: { required: boolean; mode: string; trustedkeys: string[]; trustedcertificates: string[] },
  context: z.core.$RefinementCtx<unknown>,
): void {
  if (signatures.mode !== 'verified' || !signatures.required) return;
  if (signatures.trustedkeys.length === 0 && signatures.trustedcertificates.length === 0) {
    context.addIssue({
      code: 'custom',
      path: ['trustedkeys'],
      message: 'verified mode needs at least one public key file (or trustedcertificates for notation)',
      input: signatures.trustedkeys,
    });
  }
}

/** `scan.schedule`: a cron expression croner accepts. */
function requireCron(expression: string, context: z.core.$RefinementCtx<unknown>): void {
  try {
    new Cron(expression, { paused: true }).stop();
  } catch (error) {
    context.addIssue({
      code: 'custom',
      message: `not a cron expression: ${(error as Error).message}`,
      input: expression,
    });
  }
}

/** Two routes of one prefix would be one. */
function requireUniquePrefixes(routes: { prefix: string }[], context: z.core.$RefinementCtx<unknown>): void {
  const seen = new Set<string>();
  routes.forEach((route, index) => {
    if (seen.has(route.prefix)) {
      context.addIssue({
        code: 'custom',
        path: [index, 'prefix'],
        message: `another route has the prefix ${JSON.stringify(route.prefix)}; prefixes must be unique`,
        input: route.prefix,
      });
    }
    seen.add(route.prefix);
  });
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
    trustedproxies: addressRangeList().default(() => []),
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
    s3: z
      .strictObject({
        region: nonEmptyText(),
        regionendpoint: nonEmptyText().optional(),
        forcepathstyle: flag().default(false),
        bucket: nonEmptyText(),
        rootdirectory: text().default(''),
        accesskey: text().optional(),
        secretkey: text().optional(),
        sessiontoken: text().optional(),
        encrypt: flag().default(false),
        keyid: text().optional(),
        secure: flag().default(true),
        skipverify: flag().default(false),
        chunksize: integer({ min: s3MinimumPartSize, max: s3MaximumPartSize }).default(10 * mebibyte),
        multipartcopychunksize: integer({ min: s3MinimumPartSize, max: s3MaximumPartSize }).default(32 * mebibyte),
        multipartcopymaxconcurrency: integer({ min: 1 }).default(100),
        multipartcopythresholdsize: integer({ min: 0, max: s3MaximumPartSize }).default(32 * mebibyte),
        storageclass: oneOf(s3StorageClasses).default('STANDARD'),
        maxrequestspersecond: integer({ min: 0 }).default(350),
      })
      .optional(),
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
    quota: integer({ min: 1 }).optional(),
  }),
  database: section({
    path: nonEmptyText().optional(),
    url: postgresUrl().optional(),
    host: nonEmptyText().optional(),
    port: integer({ min: 1, max: 65_535 }).optional(),
    user: nonEmptyText().optional(),
    password: text().optional(),
    dbname: nonEmptyText().optional(),
    sslmode: oneOf(['disable', 'require', 'verify-ca', 'verify-full']).optional(),
    pool: section({ max: integer({ min: 1, max: 1000 }).default(10) }),
    statementtimeout: duration().optional(),
    migrate: oneOf(['auto', 'manual']).default('auto'),
  }).superRefine(requireOneDatabase),
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
  redis: z
    .strictObject({
      addr: nonEmptyText().optional(),
      addrs: textList().default(() => []),
      mastername: nonEmptyText().optional(),
      username: text().optional(),
      password: text().optional(),
      sentinelusername: text().optional(),
      sentinelpassword: text().optional(),
      db: integer({ min: 0 }).default(0),
      dialtimeout: duration().default(5_000),
      readtimeout: duration().default(3_000),
      writetimeout: duration().default(3_000),
      tls: section({
        enabled: flag().default(false),
        certificate: nonEmptyText().optional(),
        key: nonEmptyText().optional(),
        clientcas: textList().default(() => []),
      }).superRefine(requireRedisCertificateAndKey),
    })
    .superRefine(requireRedisServers)
    .optional(),
  notifications: section({
    // Distribution's keys.
    endpoints: z
      .array(
        z.strictObject({
          name: nonEmptyText(),
          url: httpUrl(),
          disabled: flag().default(false),
          headers: headerMap().default(() => ({})),
          // Distribution: 0 means the default, as does a missing key.
          timeout: duration()
            .transform((milliseconds) => (milliseconds === 0 ? 1_000 : milliseconds))
            .default(1_000),
          threshold: integer({ min: 0 })
            .transform((count) => (count === 0 ? 10 : count))
            .default(10),
          backoff: duration()
            .transform((milliseconds) => (milliseconds === 0 ? 1_000 : milliseconds))
            .default(1_000),
          ignoredmediatypes: textList().default(() => []),
          ignore: section({ mediatypes: textList().default(() => []), actions: textList().default(() => []) }),
          // Wharf's keys.
          format: oneOf(['distribution', 'harbor', 'cloudevents']).default('distribution'),
          secret: nonEmptyText().optional(),
        }),
      )
      .superRefine(requireUniqueEndpointNames)
      .default(() => []),
    // Wharf's keys.
    instanceid: nonEmptyText().optional(),
    delivery: section({
      workers: integer({ min: 1, max: 64 }).default(4),
      maxattempts: integer({ min: 1 }).default(25),
      retrydelay: duration({ positive: true }).default(1_000),
      maxretrydelay: duration({ positive: true }).default(hour),
      timeout: duration({ positive: true }).default(10_000),
      batchsize: integer({ min: 1, max: 1000 }).default(100),
      retention: duration().default(168 * hour),
    }),
    pulls: section({
      enabled: flag().default(true),
      blobs: flag().default(false),
      flushinterval: duration({ positive: true }).default(1_000),
    }),
  }),
  gc: section({
    enabled: flag().default(true),
    workers: integer({ min: 1, max: 64 }).default(1),
    interval: duration({ positive: true }).default(5_000),
    reviewafter: duration().default(24 * hour),
    eventreviewafter: section({
      blobupload: duration().optional(),
      blobdelete: duration().optional(),
      manifestdelete: duration().optional(),
      manifestuntag: duration().optional(),
      manifestupload: duration().optional(),
      repositorydelete: duration().optional(),
    }),
    deleteuntagged: flag().default(false),
  }),
  audit: section({
    enabled: flag().default(true),
    retention: duration().default(2160 * hour),
    pulls: flag().default(true),
  }),
  proxy: section({
    // Distribution's keys: the whole registry is a cache of one upstream.
    remoteurl: absoluteUrl().optional(),
    username: text().optional(),
    password: text().optional(),
    ttl: duration().default(5 * minute),
    // Wharf's keys.
    cacert: nonEmptyText().optional(),
    insecure: flag().default(false),
    routes: z
      .array(
        z
          .strictObject({
            prefix: repositoryPrefix(),
            remoteurl: absoluteUrl(),
            username: text().optional(),
            password: text().optional(),
            ttl: duration().default(5 * minute),
            remotenamespace: repositoryPrefix().optional(),
            cacert: nonEmptyText().optional(),
            insecure: flag().default(false),
          })
          .superRefine(requireUsernameAndPassword),
      )
      .superRefine(requireUniquePrefixes)
      .default(() => []),
    mirror: repositoryPrefix().optional(),
    upstreamproxy: absoluteUrl().optional(),
    noproxy: text().optional(),
    spooldirectory: nonEmptyText().optional(),
  }).superRefine(requireUsernameAndPassword),
  replication: section({
    workers: integer({ min: 1, max: 64 }).default(2),
  }),
  ui: section({
    enabled: flag().default(true),
  }),
  policy: section({
    signatures: section({
      required: flag().default(false),
      mode: oneOf(['presence', 'verified']).default('presence'),
      formats: textList()
        .superRefine(requireSignatureFormats)
        .transform((formats) => formats as Array<'cosign' | 'notation'>)
        .default(() => ['cosign' as const, 'notation' as const]),
      trustedkeys: textList().default(() => []),
      trustedcertificates: textList().default(() => []),
    }).superRefine(requireTrustForVerified),
    vulnerabilities: section({
      blockseverity: oneOf(['none', 'low', 'medium', 'high', 'critical'], { ignoreCase: true }).default('none'),
      blockunscanned: flag().default(false),
    }),
  }),
  scan: section({
    enabled: flag().default(true),
    interval: duration({ positive: true }).default(1_000),
    schedule: text().superRefine(requireCron).optional(),
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
