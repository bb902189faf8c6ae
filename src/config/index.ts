export type { BlobDescriptorCache, Config, LogFormatter, LogLevel } from './config.ts';
export { ConfigError, isConfigError } from './config-error.ts';
export { parseGoDuration } from './duration.ts';
export { type ListenAddress, parseListenAddress } from './listen-address.ts';
export { type LoadConfigOptions, type LoadedConfig, loadConfig } from './load.ts';
