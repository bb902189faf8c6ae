import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, ErrorCodes, isRegistryError, RegistryError } from '../oci/errors.ts';

/**
 * The one place where failures become HTTP: a RegistryError keeps its code and status, Fastify's
 * own client errors become the nearest OCI code, and anything else is a logged 500 whose details
 * stay in the log.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const registryError = toRegistryError(error);
    if (registryError.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.debug({ err: { code: registryError.code, message: registryError.message } }, 'request rejected');
    }
    reply.headers(registryError.headers);
    sendError(reply, registryError);
  });
  app.setNotFoundHandler((request, reply) => {
    request.raw.resume();
    sendError(
      reply,
      new RegistryError('NAME_UNKNOWN', `no route for ${request.method} ${request.url.slice(0, 200)}`, { status: 404 }),
    );
  });
}

export function sendError(reply: FastifyReply, error: RegistryError): void {
  reply.code(error.status).header('Content-Type', 'application/json; charset=utf-8').send(errorBody(error));
}

/** An error as the status, headers and body a client gets, for replies written outside Fastify. */
export function renderError(error: unknown): { status: number; headers: Record<string, string>; body: string } {
  const registryError = toRegistryError(error instanceof Error ? error : new Error(String(error)));
  return { status: registryError.status, headers: registryError.headers, body: errorBody(registryError) };
}

function errorBody(error: RegistryError): string {
  const body: { code: ErrorCode; message: string; detail?: unknown } = { code: error.code, message: error.message };
  if (error.detail !== undefined) body.detail = error.detail;
  return JSON.stringify({ errors: [body] });
}

function toRegistryError(error: FastifyError | Error): RegistryError {
  if (isRegistryError(error)) return error;
  const status = (error as FastifyError).statusCode;
  if (status === 413) return new RegistryError('SIZE_INVALID', error.message, { status: 413 });
  if (status !== undefined && status >= 400 && status < 500) {
    const code: ErrorCode = status === 404 ? 'NAME_UNKNOWN' : status === 405 ? 'UNSUPPORTED' : 'BLOB_UPLOAD_INVALID';
    return new RegistryError(code, error.message, { status });
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || error.message === 'aborted') {
    // The client went away mid-body; nobody reads this answer, but it is not the server's fault.
    return new RegistryError('BLOB_UPLOAD_INVALID', 'request body ended early', { status: 400 });
  }
  return new RegistryError('UNKNOWN', ErrorCodes.UNKNOWN.message, { status: 500 });
}
