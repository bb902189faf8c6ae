/**
 * What the client authenticates with. A password is sent as HTTP Basic (to the registry when it
 * challenges with Basic, to the token service when it challenges with Bearer); an identity token
 * is an OAuth2 refresh token (what `docker login` stores as `identitytoken`), redeemed at the
 * token service; a registry token is sent as the bearer token itself.
 */
export type Credentials =
  | { username: string; password: string }
  | { identityToken: string; username?: string }
  | { registryToken: string };

/**
 * Credentials given up front, or looked up only when the registry asks for them (so a credential
 * helper runs only for registries that challenge). A lookup that finds nothing means anonymous.
 */
export type CredentialSource = Credentials | (() => Promise<Credentials | undefined>);

export async function resolveCredentials(source: CredentialSource | undefined): Promise<Credentials | undefined> {
  if (source === undefined) return undefined;
  return typeof source === 'function' ? source() : source;
}

/** `user:password` as skopeo's `--creds` takes it (the password may contain colons). */
export function parseCredentialsFlag(value: string, flag: string): Credentials {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new Error(`${flag}: expected USERNAME:PASSWORD`);
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
