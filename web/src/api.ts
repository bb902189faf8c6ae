/** Sent with every request: the server requires it of cookie-signed requests that change something. */
export const csrfHeader = 'X-Wharf-CSRF';

/** A refusal or failure of the registry, with the message of its `{"errors": [...]}` body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * Dispatched on `window` when the registry answers 401: the session may have ended (signed out
 * elsewhere, account disabled, password changed), so the app asks who is signed in again.
 */
export const unauthorizedEvent = 'wharf:unauthorized';

export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set(csrfHeader, '1');
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers, credentials: 'same-origin' });
  } catch (error) {
    throw new ApiError(0, `the registry did not answer (${error instanceof Error ? error.message : String(error)})`);
  }
  if (response.status === 401) window.dispatchEvent(new Event(unauthorizedEvent));
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function getJson<T>(path: string): Promise<T> {
  const response = await request(path, { headers: { Accept: 'application/json' } });
  return (await response.json()) as T;
}

export async function sendJson<T>(method: string, path: string, body?: unknown): Promise<T | undefined> {
  const response = await request(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined;
  const text = await response.text();
  return text === '' ? undefined : (JSON.parse(text) as T);
}

/** Every item of a paged management API list (`page`, `page_size`), up to `maxPages` pages. */
export async function allPages<T>(path: string, maxPages = 20): Promise<T[]> {
  const pageSize = 100;
  const items: T[] = [];
  const separator = path.includes('?') ? '&' : '?';
  for (let page = 1; page <= maxPages; page++) {
    const batch = await getJson<T[]>(`${path}${separator}page=${page}&page_size=${pageSize}`);
    items.push(...batch);
    if (batch.length < pageSize) break;
  }
  return items;
}

async function errorOf(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`.trim();
  let code: string | undefined;
  try {
    const body = (await response.json()) as { errors?: { code?: string; message?: string }[] };
    const first = body.errors?.[0];
    if (first?.message) message = first.message;
    code = first?.code;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  return new ApiError(response.status, message, code);
}
