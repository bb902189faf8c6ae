import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../observability/logger.ts';
import type { AccessControl } from '../auth/access-control.ts';
import { csrfHeader } from '../session/csrf.ts';
import type { SessionCookies } from '../session/session-cookie.ts';
import { registerSessionRoutes } from '../session/session-routes.ts';
import { loadUiFiles } from './ui-files.ts';
import { registerUiRoutes, uiBasePath } from './ui-routes.ts';

export interface UiOptions {
  directory: string;
  access: AccessControl;
  sessions: SessionCookies | undefined;
  projects: boolean;
  deleteEnabled: boolean;
  logger: Logger;
}

/** The web UI (`ui.enabled`): its files, its sign-in endpoint, and answers it can show. docs/ui.md. */
export async function registerUi(app: FastifyInstance, options: UiOptions): Promise<void> {
  const files = await loadUiFiles(options.directory);
  if (files === undefined) {
    options.logger.warn({ directory: options.directory }, 'the web UI is not built; run npm run build');
  }
  registerUiRoutes(app, files);
  registerSessionRoutes(app, options);
  // A 401 with a Basic challenge makes a browser open its own password dialog over the UI's form.
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode === 401 && request.headers[csrfHeader] !== undefined) reply.removeHeader('WWW-Authenticate');
    return payload;
  });
  options.logger.debug({ path: uiBasePath, files: files?.size ?? 0 }, 'web UI enabled');
}
