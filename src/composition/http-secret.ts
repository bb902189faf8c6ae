import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import type { Logger } from '../observability/logger.ts';

/** Where the generated secret is kept, beside the blobs of the filesystem storage. */
export const generatedSecretFileName = 'http-secret';

/**
 * `http.secret`, or one generated for this registry when it is not set. With filesystem storage the
 * generated secret is kept in the storage root, so a restarted instance accepts the upload
 * Locations it gave out before, and instances sharing that directory agree. Otherwise (S3), or when
 * the directory cannot be written, it lives as long as the process. Either way instances that do
 * not share it refuse each other's Locations, hence the warning.
 */
export async function resolveHttpSecret(config: Config, logger: Logger): Promise<string> {
  if (config.http.secret !== undefined) return config.http.secret;
  const advice = 'Instances behind one load balancer need the same http.secret (REGISTRY_HTTP_SECRET).';
  if (config.storage.s3 === undefined) {
    const path = join(config.storage.filesystem.rootdirectory, generatedSecretFileName);
    try {
      const secret = await readOrCreateSecret(config.storage.filesystem.rootdirectory, path);
      // One instance on local disk is the laptop case: worth knowing, not worth a warning.
      logger.info(`http.secret is not set: upload URLs are signed with the secret kept in ${path}. ${advice}`);
      return secret;
    } catch (error) {
      logger.warn({ err: error }, `cannot keep a generated secret in ${path}`);
    }
  }
  logger.warn(`http.secret is not set: this process signs upload URLs with a key of its own. ${advice}`);
  return randomSecret();
}

function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

async function readOrCreateSecret(directory: string, path: string): Promise<string> {
  const existing = await readSecret(path);
  if (existing !== undefined) return existing;
  await mkdir(directory, { recursive: true });
  // Written whole under a temporary name, then linked into place: another instance starting at the
  // same moment either wins (and both read its secret) or finds a complete file.
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${randomSecret()}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary).catch(() => {});
  }
  const secret = await readSecret(path);
  if (secret === undefined) throw new Error(`${path} is empty`);
  return secret;
}

async function readSecret(path: string): Promise<string | undefined> {
  try {
    const secret = (await readFile(path, 'utf8')).trim();
    return secret === '' ? undefined : secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
