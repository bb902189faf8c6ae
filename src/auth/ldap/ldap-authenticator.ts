import { readFile } from 'node:fs/promises';
import { type Client, type Entry, InvalidCredentialsError, SizeLimitExceededError } from 'ldapts';
import type { AuthConfig } from '../../config/config.ts';
import type { AuthenticationResult, Authenticator } from '../authenticator.ts';
import { DirectoryUnavailableError } from './directory-unavailable-error.ts';
import { firstRdnValue } from './distinguished-name.ts';
import { closeQuietly, createLdapClient, secureLdapConnection } from './ldap-connection.ts';
import { escapeFilterValue, fillFilterTemplate, parenthesized } from './ldap-filter.ts';

export type LdapConfig = NonNullable<AuthConfig['ldap']>;

/** Matches groupOfNames, groupOfUniqueNames and posixGroup when no group filter is configured. */
export const defaultGroupFilter = '(|(member={dn})(uniqueMember={dn})(memberUid={username}))';

interface UserEntry {
  dn: string;
  /** The user attribute's value as the directory spells it. */
  name: string;
  /** The group attribute's values (DNs), when groups are not searched for. */
  memberOf: string[];
}

interface Groups {
  names: string[];
  dns: string[];
}

/**
 * Users of an LDAP directory (OpenLDAP, Active Directory, ...): the service account finds the
 * user's entry, a bind as that entry checks the password, and the groups come from the entry's
 * memberOf attribute or from a search of `groupbasedn`.
 *
 * A missing or ambiguous entry is `unknown` (the next authenticator may know the name); a wrong or
 * empty password for a found entry is `rejected`. Anything that keeps the directory from
 * answering throws DirectoryUnavailableError: the login fails with 503 and the chain stops.
 */
export class LdapAuthenticator implements Authenticator {
  readonly name = 'ldap';

  constructor(
    private readonly config: LdapConfig,
    /** PEM of `cacert`, already read. */
    private readonly ca?: string,
  ) {
    const url = new URL(config.url);
    if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') {
      throw new Error(`auth.ldap.url must start with ldap:// or ldaps://, got ${url.protocol}//`);
    }
    if (config.starttls && url.protocol === 'ldaps:') {
      throw new Error('auth.ldap.starttls applies to ldap:// URLs; ldaps:// is TLS already');
    }
  }

  async authenticate(username: string, password: string): Promise<AuthenticationResult> {
    if (username === '') return { outcome: 'unknown' };
    const connection = {
      url: this.config.url,
      startTls: this.config.starttls,
      ca: this.ca,
      insecureSkipVerify: this.config.insecureskipverify,
      timeout: this.config.timeout,
    };
    const client = createLdapClient(connection);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const cause = new Error(`no answer from ${this.config.url} within ${this.config.timeout} ms`);
        reject(new DirectoryUnavailableError('the LDAP directory did not answer in time', cause));
      }, this.config.timeout);
    });
    const login = async (): Promise<AuthenticationResult> => {
      await secureLdapConnection(client, connection);
      return await this.loginWith(client, username, password);
    };
    try {
      return await Promise.race([login(), deadline]);
    } catch (error) {
      if (error instanceof DirectoryUnavailableError) throw error;
      throw new DirectoryUnavailableError('the LDAP directory is unavailable', error);
    } finally {
      clearTimeout(timer);
      void closeQuietly(client);
    }
  }

  private async loginWith(client: Client, username: string, password: string): Promise<AuthenticationResult> {
    if (this.config.binddn !== undefined && this.config.binddn !== '') {
      await client.bind(this.config.binddn, this.config.bindpassword ?? '');
    }
    const user = await this.findUser(client, username);
    if (user === undefined) return { outcome: 'unknown' };
    // An empty password would be an unauthenticated bind (RFC 4513 5.1.2), which many servers accept.
    if (password === '') return { outcome: 'rejected', reason: 'empty password' };
    const groups = await this.groupsOf(client, user, username);
    try {
      await client.bind(user.dn, password);
    } catch (error) {
      if (error instanceof InvalidCredentialsError) return { outcome: 'rejected', reason: 'invalid password' };
      throw error;
    }
    const admingroup = this.config.admingroup?.toLowerCase();
    const admin =
      admingroup !== undefined &&
      admingroup !== '' &&
      [...groups.names, ...groups.dns].some((group) => group.toLowerCase() === admingroup);
    const names = [...new Set(groups.names)].sort();
    return { outcome: 'authenticated', principal: { name: user.name, source: 'ldap', groups: names, admin } };
  }

  /** The one entry of the user, or undefined when there is none or more than one. */
  private async findUser(client: Client, username: string): Promise<UserEntry | undefined> {
    const attribute = this.config.userattribute;
    const filter = `(&${parenthesized(this.config.filter)}(${attribute}=${escapeFilterValue(username)}))`;
    const attributes = this.usesGroupSearch() ? [attribute] : [attribute, this.config.groupattribute];
    let entries: Entry[];
    try {
      ({ searchEntries: entries } = await client.search(this.config.basedn, {
        scope: 'sub',
        filter,
        attributes,
        sizeLimit: 2,
      }));
    } catch (error) {
      if (error instanceof SizeLimitExceededError) return undefined;
      throw error;
    }
    const [entry, ...others] = entries;
    if (entry === undefined || others.length > 0) return undefined;
    const spelled = stringValues(entry, attribute).find((value) => value.toLowerCase() === username.toLowerCase());
    const memberOf = this.usesGroupSearch() ? [] : stringValues(entry, this.config.groupattribute);
    return { dn: entry.dn, name: spelled ?? username, memberOf };
  }

  private usesGroupSearch(): boolean {
    return this.config.groupbasedn !== undefined && this.config.groupbasedn !== '';
  }

  private async groupsOf(client: Client, user: UserEntry, username: string): Promise<Groups> {
    const nameAttribute = this.config.groupnameattribute;
    if (!this.usesGroupSearch()) {
      return { dns: user.memberOf, names: user.memberOf.map((dn) => firstRdnValue(dn, nameAttribute) ?? dn) };
    }
    const template =
      this.config.groupfilter !== undefined && this.config.groupfilter !== ''
        ? this.config.groupfilter
        : defaultGroupFilter;
    const { searchEntries } = await client.search(this.config.groupbasedn ?? '', {
      scope: 'sub',
      filter: parenthesized(fillFilterTemplate(template, { dn: user.dn, username })),
      attributes: [nameAttribute],
    });
    return {
      dns: searchEntries.map((entry) => entry.dn),
      names: searchEntries.map((entry) => stringValues(entry, nameAttribute)[0] ?? entry.dn),
    };
  }
}

/** Reads `cacert` (a PEM file, or PEM text itself) and builds the authenticator. */
export async function createLdapAuthenticator(config: LdapConfig): Promise<LdapAuthenticator> {
  const cacert = config.cacert;
  if (cacert === undefined) return new LdapAuthenticator(config);
  const pem = cacert.includes('-----BEGIN') ? cacert : await readFile(cacert, 'utf8');
  return new LdapAuthenticator(config, pem);
}

/** An attribute's values as text, whatever case the server used for its name. */
function stringValues(entry: Entry, attribute: string): string[] {
  const key = Object.keys(entry).find((name) => name.toLowerCase() === attribute.toLowerCase());
  const value = key === undefined ? undefined : entry[key];
  if (value === undefined) return [];
  const values = Array.isArray(value) ? value : [value];
  return values.map((item) => (typeof item === 'string' ? item : item.toString('utf8')));
}
