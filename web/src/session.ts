import { getJson, sendJson } from './api.ts';

/** GET /api/v1/session: who is signed in, and what this registry offers. */
export interface Session {
  auth_enabled: boolean;
  /** Projects mode: the management API is there. */
  projects: boolean;
  delete_enabled: boolean;
  user: { name: string; admin: boolean } | null;
}

const path = '/api/v1/session';

export const loadSession = () => getJson<Session>(path);

export async function signIn(username: string, password: string): Promise<Session> {
  const session = await sendJson<Session>('POST', path, { username, password });
  if (!session) throw new Error('the registry answered the sign-in without a session');
  return session;
}

export async function signOut(): Promise<void> {
  await sendJson('DELETE', path);
}
