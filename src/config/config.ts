export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
export type LogFormatter = 'text' | 'json';
export type BlobDescriptorCache = 'inmemory' | 'redis';

/**
 * The validated configuration, nested like the YAML file. Durations are milliseconds; paths are
 * absolute. docs/configuration.md describes every key.
 */
export interface Config {
  version: string;
  log: {
    level: LogLevel;
    formatter: LogFormatter;
    fields: Record<string, string>;
    accesslog: { disabled: boolean };
  };
  http: {
    /** `HOST:PORT` to listen on; parseListenAddress splits it. */
    addr: string;
    /** The externally reachable base URL, e.g. `https://registry.example.com`. */
    host?: string;
    /** Key for signing state kept by clients (upload state); all instances must share it. */
    secret?: string;
    /** Proxies (addresses, CIDR ranges) whose X-Forwarded-* and Forwarded headers are believed. */
    trustedproxies: string[];
    /** Added to every response. */
    headers: Record<string, string[]>;
    debug: { addr?: string; prometheus: { enabled: boolean; path: string } };
    /** TLS is on when certificate and key are set; clientcas turns on client certificate authentication. */
    tls: {
      certificate?: string;
      key?: string;
      clientcas: string[];
      minimumtls: 'tls1.0' | 'tls1.1' | 'tls1.2' | 'tls1.3';
      ciphersuites?: string[];
    };
    http2: { disabled: boolean };
  };
  storage: {
    filesystem: { rootdirectory: string; maxthreads: number };
    /** When present, blobs live in this S3 bucket instead of the filesystem. */
    s3?: S3StorageConfig;
    delete: { enabled: boolean };
    cache: { blobdescriptor?: BlobDescriptorCache; blobdescriptorsize: number };
    maintenance: {
      readonly: { enabled: boolean };
      uploadpurging: { enabled: boolean; age: number; interval: number; dryrun: boolean };
    };
    redirect: { disable: boolean };
    /** Bytes the whole registry may hold (docs/lifecycle.md#quotas); no limit when unset. */
    quota?: number;
  };
  database: DatabaseConfig;
  auth: AuthConfig;
  /** Shared by every instance: the metadata cache, login lockout, job locks. Absent: no Redis. */
  redis?: RedisConfig;
  /** Where events go and how they are delivered; docs/events.md explains the keys. */
  notifications: NotificationsConfig;
  /** Online garbage collection; docs/garbage-collection.md explains the keys. Durations are milliseconds. */
  gc: GcConfig;
  /** The audit log; docs/audit.md explains the keys. */
  audit: {
    enabled: boolean;
    /** Milliseconds an entry is kept; 0 keeps entries forever. */
    retention: number;
    /** Record manifest pulls too. */
    pulls: boolean;
  };
  /** Pull-through caching of other registries; docs/proxy-cache.md explains the keys. */
  proxy: ProxyConfig;
  /** Replication policies; docs/replication.md explains them. */
  replication: {
    /** Executions one instance runs at the same time. */
    workers: number;
  };
  /** The web UI at `/ui/` (docs/ui.md). */
  ui: { enabled: boolean };
  /** Pull policies of the whole registry; docs/signatures.md explains `signatures`. */
  policy: {
    signatures: {
      /** Every pull of an image (not of its signatures) needs a signature. */
      required: boolean;
      mode: 'presence' | 'verified';
      formats: Array<'cosign' | 'notation'>;
      /** PEM public key files cosign signatures are verified with. */
      trustedkeys: string[];
      /** PEM certificate files notation signatures must chain to. */
      trustedcertificates: string[];
    };
    /** The vulnerability gate of the whole registry (docs/scanning.md). */
    vulnerabilities: {
      /** Refuse pulls of images with findings at or above this severity. */
      blockseverity: 'none' | 'low' | 'medium' | 'high' | 'critical';
      /** Refuse pulls of images not scanned (yet, or whose scan failed). */
      blockunscanned: boolean;
    };
  };
  /** The built-in vulnerability scanner (docs/scanning.md). */
  scan: {
    /** Scan pushed manifests, on the schedule and on request. */
    enabled: boolean;
    /** How often the scan queue and the vulnerability database's version are looked at (ms). */
    interval: number;
    /** A cron expression (UTC) on which every manifest is rescanned. */
    schedule?: string;
  };
  health: {
    /** threshold is the number of consecutive failed checks that make the registry unhealthy (at least 1). */
    storagedriver: { enabled: boolean; interval: number; threshold: number };
  };
}

/** Distribution's `notifications` (its `endpoints`) and Wharf's delivery settings. Durations are milliseconds. */
export interface NotificationsConfig {
  endpoints: NotificationEndpointConfig[];
  /** The instance id events carry as `source.instanceID`; the host name and process id when unset. */
  instanceid?: string;
  delivery: {
    /** Concurrent deliveries per instance. */
    workers: number;
    /** Attempts before a delivery becomes a dead letter. */
    maxattempts: number;
    /** The delay before the first retry; it doubles (with jitter) up to maxretrydelay. */
    retrydelay: number;
    maxretrydelay: number;
    /** The request timeout of webhook policies (endpoints have their own `timeout`). */
    timeout: number;
    /** Events per request, for the formats that carry several (Distribution's envelope). */
    batchsize: number;
    /** Delivered and dead deliveries are removed this long after their event; 0 keeps them. */
    retention: number;
  };
  pulls: {
    /** Record pull events (manifest GETs) at all. */
    enabled: boolean;
    /** Blob GETs too, as Distribution does. */
    blobs: boolean;
    /** Pull events are written in batches at most this far apart. */
    flushinterval: number;
  };
}

/** One `notifications.endpoints` entry: Distribution's keys, plus Wharf's `format` and `secret`. */
export interface NotificationEndpointConfig {
  name: string;
  url: string;
  disabled: boolean;
  headers: Record<string, string[]>;
  timeout: number;
  /** Consecutive failures before the endpoint is backed off for `backoff`. */
  threshold: number;
  backoff: number;
  ignoredmediatypes: string[];
  ignore: { mediatypes: string[]; actions: string[] };
  format: 'distribution' | 'harbor' | 'cloudevents';
  secret?: string;
}

export interface GcConfig {
  /** The background worker on this instance (change listeners queue reviews regardless). */
  enabled: boolean;
  /** Concurrent worker loops on this instance. */
  workers: number;
  /** How long a worker sleeps when no review is due. */
  interval: number;
  /** How long after an event the blobs and manifests it may have orphaned are reviewed. */
  reviewafter: number;
  /** Per-event overrides of reviewafter. */
  eventreviewafter: Partial<Record<GcEventKind, number>>;
  /** Also delete manifests that no tag, no index and no live subject keeps. */
  deleteuntagged: boolean;
}

/** The events whose review delay can be set on its own (gc.eventreviewafter). */
export type GcEventKind =
  | 'blobupload'
  | 'blobdelete'
  | 'manifestdelete'
  | 'manifestuntag'
  | 'manifestupload'
  | 'repositorydelete';

/**
 * The metadata database: SQLite at `path` unless `url` or `host` names a PostgreSQL server.
 * docs/database.md compares the two.
 */
export interface DatabaseConfig {
  /** The SQLite file (absolute), or `:memory:`. */
  path: string;
  /** `postgres://user:password@host:port/dbname?sslmode=...` */
  url?: string;
  /** A host name, an address or a Unix socket directory. */
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  dbname?: string;
  sslmode?: PostgresSslMode;
  pool: { max: number };
  /** Milliseconds; PostgreSQL cancels a statement that runs longer. */
  statementtimeout?: number;
  /** auto: apply pending migrations at start; manual: refuse to start while any are pending. */
  migrate: 'auto' | 'manual';
}

/** libpq's meanings: require encrypts without checking the certificate, verify-ca checks it against the CAs, verify-full also checks the host name. */
export type PostgresSslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

/** Distribution's `storage.s3` keys; docs/storage-s3.md explains each. Sizes are bytes. */
export interface S3StorageConfig {
  region: string;
  /** An S3-compatible endpoint (MinIO, Ceph RGW); AWS's own when unset. */
  regionendpoint?: string;
  forcepathstyle: boolean;
  bucket: string;
  /** A key prefix for everything Wharf stores; '' is the bucket's root. */
  rootdirectory: string;
  /** Without both, the AWS SDK's default credential chain (environment, profile, IAM role). */
  accesskey?: string;
  secretkey?: string;
  sessiontoken?: string;
  /** Server-side encryption: SSE-KMS with keyid, else SSE-S3. */
  encrypt: boolean;
  keyid?: string;
  /** https to the endpoint (when regionendpoint names no scheme). */
  secure: boolean;
  skipverify: boolean;
  /** The size of each staged upload part. */
  chunksize: number;
  multipartcopychunksize: number;
  multipartcopymaxconcurrency: number;
  multipartcopythresholdsize: number;
  storageclass: S3StorageClass;
  /** 0: unlimited. */
  maxrequestspersecond: number;
}

export type S3StorageClass =
  | 'STANDARD'
  | 'REDUCED_REDUNDANCY'
  | 'STANDARD_IA'
  | 'ONEZONE_IA'
  | 'INTELLIGENT_TIERING'
  | 'GLACIER_IR'
  | 'OUTPOSTS'
  | 'NONE';

/**
 * Distribution's `redis` keys (2.8's `addr`, 3's `addrs` and `mastername`); docs/redis.md explains
 * them. Timeouts are milliseconds, 0 for none.
 */
export interface RedisConfig {
  /** One server, `HOST:PORT` (Distribution 2.8). */
  addr?: string;
  /** One server; the sentinels when `mastername` is set; else several are a Redis Cluster's seed nodes. */
  addrs: string[];
  /** The Sentinel master group: `addrs` are then sentinels. */
  mastername?: string;
  username?: string;
  password?: string;
  sentinelusername?: string;
  sentinelpassword?: string;
  db: number;
  dialtimeout: number;
  readtimeout: number;
  writetimeout: number;
  /** TLS is on when `enabled` or a client certificate is set; clientcas verify the server. */
  tls: { enabled: boolean; certificate?: string; key?: string; clientcas: string[] };
}

/** Who may call and what they may do; docs/security.md explains the modes. */
export interface AuthConfig {
  /** Distribution's htpasswd: bcrypt entries, reloaded when the file changes. */
  htpasswd?: { realm: string; path: string };
  /** Distribution's token consumer mode: tokens issued by an external server are verified and obeyed. */
  token?: {
    realm: string;
    service: string;
    issuer: string;
    rootcertbundle?: string;
    jwks?: string;
    autoredirect: boolean;
    signingalgorithms?: string[];
  };
  /** Basic credentials sent straight to /v2/ are accepted. */
  basic: { enabled: boolean };
  /** Anonymous pull of every repository (projects mode: of public projects regardless). */
  anonymous: { pull: boolean };
  /** Projects, roles, local users and robots (Harbor-style); off means Distribution's semantics. */
  projects: { enabled: boolean };
  autocreateprojects: boolean;
  /** The built-in Docker token service at /service/token (on by default in projects mode). */
  tokenservice: {
    enabled?: boolean;
    issuer: string;
    service?: string;
    expiration: number;
    refreshexpiration: number;
    /** PEM private key; generated and kept under the storage root when unset. */
    key?: string;
    algorithm: 'ES256' | 'RS256';
  };
  ldap?: {
    url: string;
    binddn?: string;
    bindpassword?: string;
    basedn: string;
    filter: string;
    userattribute: string;
    groupattribute: string;
    groupbasedn?: string;
    groupfilter?: string;
    groupnameattribute: string;
    admingroup?: string;
    starttls: boolean;
    cacert?: string;
    insecureskipverify: boolean;
    timeout: number;
  };
  oidc?: {
    issuer: string;
    clientid: string;
    clientsecret?: string;
    redirecturl?: string;
    scopes: string[];
    usernameclaim: string;
    groupsclaim: string;
    admingroup?: string;
  };
  /** Failed logins per account and per source address before a lockout. */
  lockout: { attempts: number; window: number; duration: number };
  /** The first admin's password (else WHARF_ADMIN_PASSWORD, else generated and printed once). */
  admin: { password?: string };
}

/**
 * Distribution's `proxy` (the whole registry caches `remoteurl`) and Wharf's routes, each a
 * namespace prefix cached from its own upstream. Durations are milliseconds.
 */
export interface ProxyConfig {
  remoteurl?: string;
  username?: string;
  password?: string;
  /** How long a cached tag is served before the upstream is asked whether it moved. */
  ttl: number;
  /** PEM certificates (a path) trusted for `remoteurl`. */
  cacert?: string;
  insecure: boolean;
  routes: ProxyRouteConfig[];
  /** The route prefix or proxy project answering for names nothing else claims (Docker's registry-mirrors). */
  mirror?: string;
  /** An HTTP(S) proxy for upstream requests; HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply otherwise. */
  upstreamproxy?: string;
  noproxy?: string;
  /** Where blobs being fetched are spooled; `proxy-spool` under the storage root directory when unset. */
  spooldirectory?: string;
}

/** One `proxy.routes` entry: names under `prefix/` are cached from `remoteurl`. */
export interface ProxyRouteConfig {
  prefix: string;
  remoteurl: string;
  username?: string;
  password?: string;
  ttl: number;
  remotenamespace?: string;
  cacert?: string;
  insecure: boolean;
}
