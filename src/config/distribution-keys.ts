/**
 * Keys of CNCF Distribution's config.yml that Wharf does not implement yet. A file written for
 * Distribution loads unchanged: these keys are accepted, reported as warnings and ignored. Each entry
 * covers everything below it. The note says what that means where ignoring a key changes what the
 * registry does for its users.
 */
export const unimplementedDistributionKeys: Readonly<Record<string, string>> = {
  'log.hooks': '',
  'log.reportcaller': '',
  'storage.s3.v4auth': 'requests are always signed with AWS Signature Version 4',
  'storage.s3.useragent': '',
  'storage.s3.usedualstack': '',
  'storage.s3.accelerate': '',
  'storage.s3.objectacl': "objects get the bucket's default ACL",
  'storage.s3.loglevel': '',
  'storage.azure': 'blobs are stored on the filesystem (storage.filesystem.rootdirectory)',
  'storage.gcs': 'blobs are stored on the filesystem (storage.filesystem.rootdirectory)',
  'storage.swift': 'blobs are stored on the filesystem (storage.filesystem.rootdirectory)',
  'storage.oss': 'blobs are stored on the filesystem (storage.filesystem.rootdirectory)',
  'storage.inmemory': 'blobs are stored on the filesystem (storage.filesystem.rootdirectory)',
  'storage.tag': '',
  'http.prefix': 'the API is served at /v2/',
  'http.relativeurls': '',
  'http.draintimeout': '',
  'http.tls.letsencrypt': 'use http.tls.certificate and http.tls.key (or a proxy that obtains certificates)',
  'http.tls.clientauth':
    'a client certificate is requested, not required: callers without one must authenticate another way',
  'http.h2c': '',
  'auth.silly': 'the silly authenticator is for development only; use auth.htpasswd',
  'auth.token.autoredirectpath': '',
  middleware: '',
  reporting: '',
  'notifications.events': 'events do not list the references of manifests (includereferences)',
  'redis.pool': 'Wharf keeps one multiplexed connection per Redis server',
  'redis.poolsize': 'Wharf keeps one multiplexed connection per Redis server',
  'redis.pooltimeout': 'Wharf keeps one multiplexed connection per Redis server',
  'redis.poolfifo': 'Wharf keeps one multiplexed connection per Redis server',
  'redis.minidleconns': 'Wharf keeps one multiplexed connection per Redis server',
  'redis.maxidleconns': 'Wharf keeps one multiplexed connection per Redis server',
  'redis.maxactiveconns': 'Wharf keeps one multiplexed connection per Redis server',
  'redis.connmaxidletime': 'Wharf keeps one multiplexed connection per Redis server',
  'redis.connmaxlifetime': 'Wharf keeps one multiplexed connection per Redis server',
  'redis.clientname': '',
  'redis.protocol': '',
  'redis.maxretries': 'a failed Redis command is not retried: the request falls back to the database',
  'redis.minretrybackoff': '',
  'redis.maxretrybackoff': '',
  'redis.maxredirects': '',
  'redis.readonly': '',
  'redis.routebylatency': '',
  'redis.routerandomly': '',
  catalog: '',
  'proxy.exec': 'use proxy.username and proxy.password',
  compatibility: '',
  validation: 'pushed manifests are not checked against validation rules',
  'policy.repository': 'repository class policies are not enforced',
  'health.file': '',
  'health.http': '',
  'health.tcp': '',
};

/**
 * Distribution keys Wharf reads but rewrites before validation (deprecated spellings, values with a
 * Wharf equivalent); see distribution-compat.ts.
 */
export const translatedDistributionKeys: readonly string[] = ['loglevel', 'storage.cache.layerinfo', 'http.net'];

/** The Distribution-only keys directly below `parent` ('' for the top level). */
export function distributionKeysUnder(parent: string): string[] {
  const prefix = parent === '' ? '' : `${parent}.`;
  return [...Object.keys(unimplementedDistributionKeys), ...translatedDistributionKeys]
    .filter((path) => path.startsWith(prefix) && !path.slice(prefix.length).includes('.'))
    .map((path) => path.slice(prefix.length));
}

export function isUnimplementedDistributionKey(path: string): boolean {
  return Object.hasOwn(unimplementedDistributionKeys, path);
}

/** The keys below `storage` that are settings rather than a storage driver. */
export const storageSettingKeys: ReadonlySet<string> = new Set([
  'maintenance',
  'cache',
  'delete',
  'redirect',
  'tag',
  'quota',
]);
