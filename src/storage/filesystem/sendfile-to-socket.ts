import type { FileHandle } from 'node:fs/promises';
import { ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { getSystemErrorName } from 'node:util';
import { recordBytesSentBesideWrite } from '../../observability/bytes-sent-beside-write.ts';
import { debug, type SendfileBinding, sendfileBinding } from './sendfile-binding.ts';

/** Node's libuv stream wrapper: the descriptor and the bytes libuv still has to write. */
interface SocketHandle {
  fd?: unknown;
  writeQueueSize?: unknown;
}

/**
 * Sends bytes [start, end) of the file into the HTTP response's socket with sendfile(2), the page
 * cache to the socket inside the kernel, after the response's headers. Resolves false, with no body
 * byte written, when the response is not one this path can serve exactly: no addon, TLS (the
 * kernel would bypass the encryption), a HEAD request, no Content-Length of exactly this length, a
 * socket that is corked, shared with an earlier pipelined response, on an idle timeout (Node would
 * not see the bytes go out and would time it out), or still holding unsent bytes after the headers.
 * The caller then writes the body the ordinary way. Rejects once bytes went out and the transfer
 * failed (the client went away); the caller must then destroy the response. The bytes sent count in
 * bodyBytesSentBesideWrite(response) (src/observability/bytes-sent-beside-write.ts).
 */
export async function sendFileToSocket(
  handle: FileHandle,
  start: number,
  end: number,
  destination: Writable,
): Promise<boolean> {
  const binding = sendfileBinding();
  if (binding === undefined) return false;
  const length = end - start;
  const refusal = refusalReason(destination, length);
  if (refusal !== undefined || !(destination instanceof ServerResponse)) {
    debug('buffered download: %s', refusal);
    return false;
  }
  const socket = destination.socket as Socket;
  // Headers first: once Node's and libuv's queues are empty, the next byte on the wire is ours.
  destination.flushHeaders();
  if (hasUnsentBytes(destination, socket) && !socket.writableCorked) {
    debug('waiting for %d bytes of headers to leave', socket.writableLength);
    await writesFlushed(socket);
  }
  const fd = socketHandle(socket)?.fd;
  if (hasUnsentBytes(destination, socket) || socket.writableCorked || socket.destroyed || typeof fd !== 'number') {
    debug('buffered download: the socket still holds unsent bytes after the headers');
    return false;
  }
  const outcome = await transfer(binding, socket, fd, handle.fd, start, length);
  if (outcome === undefined) return false;
  recordBytesSentBesideWrite(destination, outcome.sent);
  if (outcome.errno !== 0) throw transferError(outcome, length);
  debug('sent %d bytes with sendfile', outcome.sent);
  return true;
}

function refusalReason(destination: Writable, length: number): string | undefined {
  if (!(destination instanceof ServerResponse)) return 'not an HTTP/1 response';
  if (length <= 0) return 'nothing to send';
  if (destination.req?.method === 'HEAD') return 'a HEAD request has no body';
  if (destination.headersSent) return 'the headers were already sent';
  if (Number(destination.getHeader('content-length')) !== length || destination.hasHeader('transfer-encoding')) {
    return 'the response does not declare exactly this Content-Length';
  }
  const socket = destination.socket;
  if (!(socket instanceof Socket) || socket.destroyed || !socket.writable) return 'no writable socket of its own';
  if (socket instanceof TLSSocket) return 'a TLS connection';
  if (socket.timeout) return 'the connection has an idle timeout';
  if (socket.writableCorked) return 'the socket is corked';
  if (typeof socketHandle(socket)?.fd !== 'number') return 'no file descriptor';
  return undefined;
}

function socketHandle(socket: Socket): SocketHandle | undefined {
  return (socket as unknown as { _handle?: SocketHandle | null })._handle ?? undefined;
}

function hasUnsentBytes(destination: ServerResponse, socket: Socket): boolean {
  // writableLength: bytes in the response's own buffer plus the socket's stream buffer.
  const queued = socketHandle(socket)?.writeQueueSize;
  return destination.writableLength > 0 || socket.writableLength > 0 || (typeof queued === 'number' && queued > 0);
}

/** A zero-byte write completes only after every write queued before it. */
function writesFlushed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.write(Buffer.alloc(0), () => resolve());
  });
}

interface TransferOutcome {
  /** 0 when every byte was sent, else the errno value that stopped the transfer. */
  errno: number;
  sent: number;
}

/**
 * Resolves with how the transfer ended, or undefined when the addon refused the socket before
 * sending anything. A close of the socket (client gone, server shutting down) cancels the transfer.
 */
function transfer(
  binding: SendfileBinding,
  socket: Socket,
  socketFd: number,
  fileFd: number,
  start: number,
  length: number,
): Promise<TransferOutcome | undefined> {
  return new Promise((resolve) => {
    let id: number;
    const cancel = () => binding.cancel(id);
    try {
      id = binding.start(socketFd, fileFd, start, length, (errno, sent) => {
        socket.off('close', cancel);
        resolve({ errno, sent });
      });
    } catch (error) {
      debug('buffered download: %s', (error as Error).message);
      resolve(undefined);
      return;
    }
    socket.once('close', cancel);
  });
}

function transferError({ errno, sent }: TransferOutcome, length: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(-errno);
  const error: NodeJS.ErrnoException = new Error(`sendfile stopped after ${sent} of ${length} bytes: ${code}`);
  error.code = code;
  error.errno = -errno;
  error.syscall = 'sendfile';
  return error;
}
