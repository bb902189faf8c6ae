import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import bcrypt from 'bcryptjs';
import type { AuthenticationResult, Authenticator } from '../authenticator.ts';
import { type HtpasswdEntry, HtpasswdError, parseHtpasswd, provisionHtpasswdFile } from './htpasswd-file.ts';
import { spendVerificationTime } from './passwords.ts';

/** The log calls made here; the registry's pino logger is one. */
export interface HtpasswdLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface HtpasswdOptions {
  /** `auth.htpasswd.path`. */
  path: string;
  logger: HtpasswdLogger;
  /** Quiet time after a change is seen before the file is read (editors write in several steps). */
  debounceMs?: number;
  /**
   * A login re-checks the file's modification time at most this often, for filesystems where
   * change notifications never arrive (NFS, some container volume mounts).
   */
  statIntervalMs?: number;
}

/**
 * Distribution's htpasswd users: bcrypt entries from `auth.htpasswd.path`, reloaded when the file
 * changes. A file that breaks after startup is logged and the last good one stays in force, so a
 * half-saved edit never locks everybody out.
 */
export class HtpasswdAuthenticator implements Authenticator {
  readonly name = 'htpasswd';
  /** The user and password written into a file that did not exist, shown once in the log. */
  provisioned: { username: string; password: string } | undefined;

  private entries = new Map<string, HtpasswdEntry>();
  /** The bcrypt cost most entries use: an unknown user's dummy check costs the same. */
  private typicalCost = 10;
  private signature = '';
  private failedSignature = '';
  private lastChecked = 0;
  private checking: Promise<void> | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly debounceMs: number;
  private readonly statIntervalMs: number;

  private constructor(private readonly options: HtpasswdOptions) {
    this.debounceMs = options.debounceMs ?? 250;
    this.statIntervalMs = options.statIntervalMs ?? 5_000;
  }

  /**
   * Loads the file, creating it with a `docker` user and a random password when it does not exist
   * (as Distribution does; the password is logged once, as a warning). Throws HtpasswdError when
   * the file is unusable: at startup a broken file is a configuration error.
   */
  static async open(options: HtpasswdOptions): Promise<HtpasswdAuthenticator> {
    const authenticator = new HtpasswdAuthenticator(options);
    authenticator.provisioned = await provisionHtpasswdFile(options.path);
    if (authenticator.provisioned) {
      options.logger.warn(
        { path: options.path, user: authenticator.provisioned.username, password: authenticator.provisioned.password },
        'htpasswd file is missing: created it with a default user',
      );
    }
    await authenticator.load();
    authenticator.watch();
    return authenticator;
  }

  /** The usernames currently in force. */
  usernames(): string[] {
    return [...this.entries.keys()];
  }

  async authenticate(username: string, password: string): Promise<AuthenticationResult> {
    await this.checkIfDue();
    const entry = this.entries.get(username);
    if (!entry) {
      await spendVerificationTime(password, { bcryptCost: this.typicalCost });
      return { outcome: 'unknown' };
    }
    if (!(await bcrypt.compare(password, entry.hash))) return { outcome: 'rejected', reason: 'wrong password' };
    return { outcome: 'authenticated', principal: { name: username, source: 'htpasswd', groups: [], admin: false } };
  }

  /**
   * The stored hash of a user, or undefined once the user's line is gone: a sign-in bound to it
   * ends when the line is removed or the password changed.
   */
  async storedHash(username: string): Promise<string | undefined> {
    await this.checkIfDue();
    return this.entries.get(username)?.hash;
  }

  /** Re-reads the file if it changed since it was last read. */
  async refresh(): Promise<void> {
    this.checking ??= this.reloadIfChanged().finally(() => {
      this.checking = undefined;
    });
    await this.checking;
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearTimeout(this.debounce);
  }

  private async load(): Promise<void> {
    const { path } = this.options;
    const before = await signatureOf(path);
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new HtpasswdError(`${path}: cannot read the htpasswd file: ${error.code ?? error.message}`);
    });
    const entries = parseHtpasswd(text, path);
    this.entries = entries;
    this.typicalCost = mostCommonCost(entries) ?? this.typicalCost;
    this.signature = before;
    this.lastChecked = Date.now();
  }

  private async reloadIfChanged(): Promise<void> {
    const { path, logger } = this.options;
    this.lastChecked = Date.now();
    let current: string;
    try {
      current = await signatureOf(path);
    } catch (error) {
      if (this.failedSignature !== 'missing') {
        this.failedSignature = 'missing';
        logger.error({ path, err: error }, 'htpasswd file is unreadable; keeping the users loaded before');
      }
      return;
    }
    if (current === this.signature || current === this.failedSignature) return;
    try {
      await this.load();
      this.failedSignature = '';
      logger.info({ path, users: this.entries.size }, 'htpasswd file reloaded');
    } catch (error) {
      this.failedSignature = current;
      logger.error(
        { path, error: (error as Error).message },
        'htpasswd file changed but cannot be used; keeping the users loaded before',
      );
    }
  }

  private async checkIfDue(): Promise<void> {
    if (Date.now() - this.lastChecked >= this.statIntervalMs) await this.refresh();
  }

  /**
   * Watches the directory, not the file: editors and `htpasswd` replace the file by renaming, and
   * Kubernetes swaps a symlink beside it, both invisible to a watch on the old inode.
   */
  private watch(): void {
    const { path, logger } = this.options;
    try {
      this.watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
        if (filename !== null && filename !== basename(path) && !filename.startsWith('..')) return;
        clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.refresh(), this.debounceMs);
        this.debounce.unref();
      });
      this.watcher.on('error', (error) => {
        logger.warn({ path, err: error }, 'cannot watch the htpasswd file; changes are noticed at logins instead');
        this.close();
      });
    } catch (error) {
      logger.warn({ path, err: error }, 'cannot watch the htpasswd file; changes are noticed at logins instead');
    }
  }
}

/** Changes when the file is rewritten or replaced, even within one second on coarse-mtime filesystems. */
async function signatureOf(path: string): Promise<string> {
  const info = await stat(path);
  return `${info.mtimeMs}:${info.size}:${info.ino}`;
}

function mostCommonCost(entries: Map<string, HtpasswdEntry>): number | undefined {
  const counts = new Map<number, number>();
  for (const { cost } of entries.values()) counts.set(cost, (counts.get(cost) ?? 0) + 1);
  let best: number | undefined;
  for (const [cost, count] of counts) if (best === undefined || count > (counts.get(best) ?? 0)) best = cost;
  return best;
}
