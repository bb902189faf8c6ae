import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../../oci/errors.ts';
import type { UiFile } from './ui-files.ts';

/** Where the UI lives; its client routes are below it too, so nothing else ever falls back to it. */
export const uiBasePath = '/ui/';

/**
 * Scripts, styles and requests from this origin only; no inline script, no framing, no plugins.
 * The build has no inline script or style, so nothing needs `unsafe-inline`.
 */
export const uiContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const securityHeaders: Record<string, string> = {
  'Content-Security-Policy': uiContentSecurityPolicy,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** Vite names every asset after its content hash: a name never changes meaning, so caches keep it. */
const immutable = 'public, max-age=31536000, immutable';

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wharf</title></head>
<body><h1>Wharf</h1><p>The web UI is not built. Run <code>npm run build</code> (or <code>npm start</code>) and restart Wharf.</p>
<p>The registry API answers at <code>/v2/</code> and the management API at <code>/api/v1/</code>.</p></body></html>
`;

/**
 * `/` redirects to `/ui/`; `/ui/…` serves the built files, and index.html for any other path
 * there that does not name a file (the app's own routes). Without a build (`files` undefined)
 * every one of them answers a page saying how to make one.
 */
export function registerUiRoutes(app: FastifyInstance, files: ReadonlyMap<string, UiFile> | undefined): void {
  const notBuilt = (reply: FastifyReply) =>
    reply
      .code(503)
      .headers(securityHeaders)
      .header('Cache-Control', 'no-store')
      .header('Content-Type', 'text/html; charset=utf-8')
      .send(notBuiltPage);
  const redirect = async (_request: FastifyRequest, reply: FastifyReply) =>
    files === undefined
      ? notBuilt(reply)
      : reply.code(302).header('Location', uiBasePath).header('Cache-Control', 'no-cache').send();
  app.get('/', redirect);
  app.get('/ui', redirect);
  app.get(`${uiBasePath}*`, async (request, reply) => {
    if (files === undefined) return notBuilt(reply);
    reply.headers(securityHeaders);
    const path = filePath(request.url);
    const file = files.get(path === '' ? 'index.html' : path);
    if (file) return sendFile(request, reply, file, path.startsWith('assets/') ? immutable : 'no-cache');
    // A missing asset or top-level file (`favicon.ico`) is a 404; app routes are `projects/…`, `repo/…`.
    if (path.startsWith('assets/') || (!path.includes('/') && path.includes('.'))) {
      throw new RegistryError('NAME_UNKNOWN', `no such file: ${path.slice(0, 200)}`);
    }
    return sendFile(request, reply, files.get('index.html')!, 'no-cache');
  });
}

/** The decoded path below /ui/; a malformed escape is 400; `.`, `..` or empty segments, NUL or backslash 404. */
function filePath(url: string): string {
  const query = url.indexOf('?');
  const raw = (query === -1 ? url : url.slice(0, query)).slice(uiBasePath.length);
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new RegistryError('NAME_INVALID', 'malformed percent-encoding in the path');
  }
  const segments = path.split('/');
  if (
    /[\\\0]/.test(path) ||
    path.startsWith('/') ||
    path.includes('//') ||
    segments.some((segment) => segment === '.' || segment === '..')
  ) {
    throw new RegistryError('NAME_UNKNOWN', 'no such file');
  }
  return path;
}

function sendFile(request: FastifyRequest, reply: FastifyReply, file: UiFile, cacheControl: string): FastifyReply {
  reply.header('Cache-Control', cacheControl).header('ETag', file.etag).header('Vary', 'Accept-Encoding');
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  reply.header('Content-Type', file.contentType);
  const accepts = request.headers['accept-encoding'];
  if (file.gzipped && typeof accepts === 'string' && /\bgzip\b/.test(accepts)) {
    return reply.header('Content-Encoding', 'gzip').send(file.gzipped);
  }
  return reply.send(file.body);
}
