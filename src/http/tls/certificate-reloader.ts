import { type FSWatcher, type StatsListener, unwatchFile, watch, watchFile } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from '../../observability/logger.ts';
import {
  describeCertificate,
  readTlsFiles,
  secureContextOptions,
  type TlsFiles,
  type TlsSettings,
} from './tls-options.ts';

export interface ReloadTiming {
  /** Changes closer together than this are one reload (an editor writes, renames and chmods). */
  debounceMs: number;
  /** How often the files are stat'ed, for changes fs.watch misses (symlink swaps of Kubernetes secrets, NFS). */
  pollIntervalMs: number;
}

export type ReloadOutcome = 'reloaded' | 'unchanged' | 'failed';

const defaultTiming: ReloadTiming = { debounceMs: 500, pollIntervalMs: 2_000 };

/** A certificate expiring within this long is logged as a warning at every (re)load. */
const expiryWarningMs = 14 * 86_400_000;

/**
 * Keeps the servers' certificate, key and client CAs in step with the files: on SIGHUP and when
 * a file changes, it reads them again and installs them with `setSecureContext`, which applies to
 * new handshakes only: open connections keep going. Files that do not make a usable context (half
 * written, key not matching) are logged as an error and the current certificate stays.
 */
export class CertificateReloader {
  private readonly servers = new Set<TlsServer>();
  private readonly timing: ReloadTiming;
  private readonly watchers: FSWatcher[] = [];
  private readonly polled: Array<{ path: string; listener: StatsListener }> = [];
  private readonly onSignal = () => this.schedule('SIGHUP', 0);
  private debounce: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly settings: TlsSettings,
    private current: TlsFiles,
    private readonly logger: Logger,
    timing: Partial<ReloadTiming> = {},
  ) {
    this.timing = { ...defaultTiming, ...timing };
  }

  /** The files the servers currently use. */
  get files(): TlsFiles {
    return this.current;
  }

  attach(server: TlsServer): void {
    this.servers.add(server);
    server.once('close', () => this.servers.delete(server));
  }

  /** Starts watching the files and listening for SIGHUP. */
  start(): void {
    process.on('SIGHUP', this.onSignal);
    for (const path of new Set(this.paths())) {
      const listener: StatsListener = (now, before) => {
        if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino || now.size !== before.size) {
          this.schedule(`${path} changed`);
        }
      };
      watchFile(path, { interval: this.timing.pollIntervalMs, persistent: false }, listener);
      this.polled.push({ path, listener });
    }
    // Watching the directory, not the file: editors and `mv` replace the file, which ends a file watch.
    for (const [directory, names] of this.pathsByDirectory()) {
      try {
        const watcher = watch(directory, { persistent: false }, (_event, name) => {
          if (name === null || names.has(name.toString())) this.schedule(`${directory}/${name ?? ''} changed`);
        });
        watcher.on('error', (error) => this.logger.debug({ err: error, directory }, 'TLS file watch ended'));
        this.watchers.push(watcher);
      } catch (error) {
        this.logger.debug({ err: error, directory }, 'TLS files are polled only');
      }
    }
  }

  /** Reads the files again now; resolves when the servers use them (or kept the old ones). */
  reload(reason = 'requested'): Promise<ReloadOutcome> {
    // One load at a time, in order: the last one always sees the files as they are now.
    const outcome = this.queue.then(() => this.load(reason));
    this.queue = outcome;
    return outcome;
  }

  close(): void {
    this.closed = true;
    process.off('SIGHUP', this.onSignal);
    if (this.debounce) clearTimeout(this.debounce);
    for (const watcher of this.watchers.splice(0)) watcher.close();
    for (const { path, listener } of this.polled.splice(0)) unwatchFile(path, listener);
  }

  private schedule(reason: string, delayMs = this.timing.debounceMs): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reload(reason);
    }, delayMs);
  }

  private async load(reason: string): Promise<ReloadOutcome> {
    try {
      const files = await readTlsFiles(this.settings);
      if (sameFiles(files, this.current)) {
        this.logger.debug({ reason }, 'TLS files unchanged');
        return 'unchanged';
      }
      const options = secureContextOptions(this.settings, files);
      for (const server of this.servers) server.setSecureContext(options);
      this.current = files;
      logCertificate(this.logger, files.certificate, `TLS certificate reloaded (${reason})`);
      return 'reloaded';
    } catch (error) {
      this.logger.error(
        { err: error, reason },
        'TLS certificate reload failed; the registry keeps serving the current certificate',
      );
      return 'failed';
    }
  }

  private paths(): string[] {
    const { certificate, key, clientcas } = this.settings;
    return [certificate, key, ...clientcas].filter((path): path is string => path !== undefined);
  }

  private pathsByDirectory(): Map<string, Set<string>> {
    const byDirectory = new Map<string, Set<string>>();
    for (const path of this.paths()) {
      const names = byDirectory.get(dirname(path)) ?? new Set<string>();
      names.add(basename(path));
      byDirectory.set(dirname(path), names);
    }
    return byDirectory;
  }
}

/** Logs the certificate in use, as a warning when it has expired or expires within two weeks. */
export function logCertificate(logger: Logger, pem: Buffer, message: string): void {
  const fields = describeCertificate(pem);
  const remainingMs = Date.parse(fields['tls.notAfter'] ?? '') - Date.now();
  if (remainingMs <= 0) logger.warn(fields, `${message}; the certificate has EXPIRED`);
  else if (remainingMs < expiryWarningMs) logger.warn(fields, `${message}; the certificate expires soon`);
  else logger.info(fields, message);
}

function sameFiles(a: TlsFiles, b: TlsFiles): boolean {
  return (
    a.certificate.equals(b.certificate) &&
    a.key.equals(b.key) &&
    a.clientCas.length === b.clientCas.length &&
    a.clientCas.every((pem, index) => pem.equals(b.clientCas[index]!))
  );
}
