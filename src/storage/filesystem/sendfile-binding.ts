import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { debuglog } from 'node:util';

/** The native addon in native/sendfile, built by `npm ci` (see native/sendfile/build.mjs). */
export interface SendfileBinding {
  /**
   * Starts sending `length` bytes of `fileFd` from `offset` into `socketFd` on the addon's sender
   * thread; `done` runs on this thread with 0 or an errno value and the bytes sent. Throws, having
   * sent nothing, when `socketFd` is not a non-blocking stream socket.
   */
  start(
    socketFd: number,
    fileFd: number,
    offset: number,
    length: number,
    done: (errno: number, bytesSent: number) => void,
  ): number;
  /** Ends a transfer early; its `done` still runs, with ECANCELED. */
  cancel(id: number): void;
}

export type SendfileSupport = { available: true } | { available: false; reason: string };

export const debug = debuglog('wharf-sendfile');

export const defaultAddonPath = fileURLToPath(
  new URL('../../../native/sendfile/build/Release/wharf_sendfile.node', import.meta.url),
);

let loaded: { binding: SendfileBinding | undefined; support: SendfileSupport } | undefined;

/**
 * Loads the addon once. When it cannot be loaded (not Linux, built without a compiler, installed
 * with --ignore-scripts) downloads take the buffered path; the reason is kept for
 * sendfileSupport() and printed once under NODE_DEBUG=wharf-sendfile.
 */
export function sendfileBinding(): SendfileBinding | undefined {
  loaded ??= loadSendfileBinding(defaultAddonPath);
  return loaded.binding;
}

/** Whether downloads from the filesystem driver can use sendfile(2), and why not. */
export function sendfileSupport(): SendfileSupport {
  loaded ??= loadSendfileBinding(defaultAddonPath);
  return loaded.support;
}

export function loadSendfileBinding(path: string): { binding: SendfileBinding | undefined; support: SendfileSupport } {
  if (process.platform !== 'linux') {
    return unavailable(`sendfile(2) is used on Linux only, not on ${process.platform}`);
  }
  try {
    const binding = createRequire(import.meta.url)(path) as SendfileBinding;
    if (typeof binding.start !== 'function' || typeof binding.cancel !== 'function') {
      return unavailable(`${path} is not the sendfile addon`);
    }
    debug('loaded %s', path);
    return { binding, support: { available: true } };
  } catch (error) {
    return unavailable(`cannot load ${path}: ${(error as Error).message.split('\n')[0]}`);
  }
}

function unavailable(reason: string): { binding: undefined; support: SendfileSupport } {
  debug('blob downloads use the buffered path: %s', reason);
  return { binding: undefined, support: { available: false, reason } };
}
