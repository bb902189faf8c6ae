import type { Config } from '../config/index.ts';
import type { Logger } from '../observability/logger.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { FilesystemDriver } from '../storage/filesystem/filesystem-driver.ts';

/** The configured storage driver, ready for use: `storage.s3` when present, else the filesystem. */
export async function openStorage(config: Config, logger: Logger): Promise<StorageDriver> {
  const { s3 } = config.storage;
  if (s3 !== undefined) {
    // Loaded only when configured: the AWS SDK alone adds tens of MiB to every process's memory.
    const { S3Driver } = await import('../storage/s3/s3-driver.ts');
    const driver = S3Driver.fromConfig(s3, !config.storage.redirect.disable);
    if (await driver.init(s3.region)) logger.info({ bucket: s3.bucket }, 'created the S3 bucket');
    return driver;
  }
  const filesystem = new FilesystemDriver(config.storage.filesystem.rootdirectory);
  await filesystem.init();
  return filesystem;
}

/** Where blobs are, for the start-up log line. */
export function describeStorage(config: Config): string {
  const { s3 } = config.storage;
  if (s3 === undefined) return config.storage.filesystem.rootdirectory;
  const root = s3.rootdirectory.replace(/^\/+|\/+$/g, '');
  return `s3://${s3.bucket}/${root}${root === '' ? '' : '/'}${s3.regionendpoint === undefined ? '' : ` at ${s3.regionendpoint}`}`;
}
