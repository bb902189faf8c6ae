/**
 * The OCI registry client: the one way Wharf talks to another registry (replication, the
 * pull-through cache, `wharf copy/sync/export/import`). Import from here, not from the files.
 */
export type { BlobDownload } from './blob-download.ts';
export { loadCertDirectory } from './cert-directory.ts';
export type { CredentialSource, Credentials } from './credentials.ts';
export { parseCredentialsFlag } from './credentials.ts';
export { type AuthFileOptions, authFilePaths, storedCredentials } from './docker-config.ts';
export {
  createDispatcher,
  type DispatcherOptions,
  type ProxyOptions,
  type TimeoutOptions,
  type TlsOptions,
} from './http-dispatcher.ts';
export {
  type ManifestContent,
  manifestMediaType,
  manifestMediaTypes,
  verifiedManifestDigest,
} from './manifest-content.ts';
export { isReferrersFallbackTag, referrersFallbackTag } from './referrers.ts';
export {
  type ManifestHead,
  type PageOptions,
  type PingResult,
  type PushedManifest,
  RegistryClient,
  type RegistryClientOptions,
} from './registry-client.ts';
export {
  DigestMismatchError,
  isNotFound,
  isRegistryClientError,
  type OciErrorEntry,
  RegistryClientError,
} from './registry-client-error.ts';
export { canonicalRegistryHost, isDockerHub, normalizeRepository } from './registry-host.ts';
export { isRetryable, type RetryOptions, retryDelayMs, retryPolicy, sleep } from './retry-policy.ts';
