import { ReplicationError } from './replication-error.ts';

/** `http(s)://host[:port][/prefix]`, without a trailing slash, query or credentials. */
export function normalizeEndpointUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new ReplicationError('invalid', `url: "${text}" is not a URL (expected https://host[:port])`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ReplicationError('invalid', 'url: must be http:// or https://');
  }
  if (url.username !== '' || url.password !== '') {
    throw new ReplicationError('invalid', 'url: put credentials in credential, not in the URL');
  }
  if (url.search !== '' || url.hash !== '') throw new ReplicationError('invalid', 'url: must not have a query');
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}
