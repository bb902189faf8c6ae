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
  health: {
    /** threshold is the number of consecutive failed checks that make the registry unhealthy (at least 1). */
    storagedriver: { enabled: boolean; interval: number; threshold: number };
  };
}
