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
    delete: { enabled: boolean };
    cache: { blobdescriptor?: BlobDescriptorCache; blobdescriptorsize: number };
    maintenance: {
      readonly: { enabled: boolean };
      uploadpurging: { enabled: boolean; age: number; interval: number; dryrun: boolean };
    };
    redirect: { disable: boolean };
  };
  database: {
    /** The SQLite file (absolute), or `:memory:`. */
    path: string;
  };
  auth: AuthConfig;
  health: {
    /** threshold is the number of consecutive failed checks that make the registry unhealthy (at least 1). */
    storagedriver: { enabled: boolean; interval: number; threshold: number };
  };
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
