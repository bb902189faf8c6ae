/** One entry of a registry's `{"errors":[…]}` body. */
export interface OciErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

export interface RegistryClientErrorOptions {
  /** The HTTP status; undefined when no response came (connection refused, reset, timed out). */
  status?: number;
  /** The OCI error code of the first entry of the body (`MANIFEST_UNKNOWN`, `DENIED`, …). */
  code?: string;
  errors?: OciErrorEntry[];
  method?: string;
  url?: string;
  /** Whether sending the request again may succeed: 429, 5xx, a lost connection, a timeout. */
  retryable?: boolean;
  /** How long the registry asked the client to wait (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * Every failure of the registry client: an error answer of the registry (status, OCI code and
 * message as sent), a transport failure (no status), or content that does not match its digest.
 */
export class RegistryClientError extends Error {
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly errors: OciErrorEntry[];
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: RegistryClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryClientError';
    this.status = options.status;
    this.code = options.code ?? options.errors?.[0]?.code;
    this.errors = options.errors ?? [];
    this.method = options.method;
    this.url = options.url;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Bytes whose digest (or length) is not the one their descriptor or reference names. */
export class DigestMismatchError extends RegistryClientError {
  readonly expected: string;
  readonly actual: string;

  constructor(what: string, expected: string, actual: string, options: RegistryClientErrorOptions = {}) {
    super(`${what}: expected ${expected}, got ${actual}`, { code: 'DIGEST_INVALID', ...options });
    this.name = 'DigestMismatchError';
    this.expected = expected;
    this.actual = actual;
  }
}

export function isRegistryClientError(value: unknown): value is RegistryClientError {
  return value instanceof RegistryClientError;
}

/** A 404 of the registry: the manifest, blob, repository or upload does not exist. */
export function isNotFound(error: unknown): boolean {
  return error instanceof RegistryClientError && error.status === 404;
}

/** Parses an error body; tolerant of registries that answer with HTML or nothing at all. */
export function parseErrorBody(body: string): OciErrorEntry[] {
  if (body === '') return [];
  try {
    const json = JSON.parse(body) as { errors?: unknown };
    if (!Array.isArray(json.errors)) return [];
    return json.errors
      .filter((entry): entry is Record<string, unknown> => typeof entry === 'object' && entry !== null)
      .map((entry) => ({
        code: typeof entry.code === 'string' ? entry.code : 'UNKNOWN',
        ...(typeof entry.message === 'string' ? { message: entry.message } : {}),
        ...(entry.detail === undefined ? {} : { detail: entry.detail }),
      }));
  } catch {
    return [];
  }
}
