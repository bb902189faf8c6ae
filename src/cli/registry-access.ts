import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  type Credentials,
  loadCertDirectory,
  parseCredentialsFlag,
  RegistryClient,
  storedCredentials,
} from '../replication/client/index.ts';
import { version } from './version.ts';

/** How to reach one side's registry: skopeo's flags, with `src-`/`dest-` prefixes or none. */
export interface RegistryAccess {
  creds?: string;
  registryToken?: string;
  tlsVerify: boolean;
  certDir?: string;
  authfile?: string;
  retryTimes: number;
}

export type AccessPrefix = '' | 'src-' | 'dest-';

/** Adds `--[src-|dest-]creds`, `registry-token`, `tls-verify`, `cert-dir` and `authfile` to a command. */
export function addAccessOptions(command: Command, prefix: AccessPrefix, side: string): Command {
  return command
    .option(`--${prefix}creds <user:password>`, `credentials for the ${side} registry`)
    .option(`--${prefix}registry-token <token>`, `a bearer token to send to the ${side} registry as it is`)
    .addOption(
      new Option(
        `--${prefix}tls-verify [bool]`,
        `verify the ${side} registry's TLS certificate; =false also allows plain HTTP`,
      )
        .argParser(parseBoolean)
        .default(true),
    )
    .option(`--${prefix}cert-dir <dir>`, `*.crt CAs and a client.cert/client.key pair for the ${side} registry`)
    .option(
      `--${prefix}authfile <file>`,
      `credentials file for the ${side} registry (default: auth.json of podman/skopeo, then ~/.docker/config.json)`,
    );
}

/** `--retry-times`, and `--authfile` for both sides of a command with `src-`/`dest-` flags. */
export function addCommonAccessOptions(command: Command, options: { twoSided: boolean }): Command {
  if (options.twoSided) {
    command.option(
      '--authfile <file>',
      'credentials file for both sides (docker config.json or containers auth.json format)',
    );
  }
  return command.option(
    '--retry-times <n>',
    'tries per request on 429, 5xx and lost connections',
    parsePositiveInteger,
    5,
  );
}

/** The access flags of one side from commander's parsed options. */
export function accessOf(options: Record<string, unknown>, prefix: AccessPrefix): RegistryAccess {
  const key = (name: string) => camel(`${prefix}${name}`);
  const text = (name: string) => {
    const value = options[key(name)];
    return typeof value === 'string' ? value : undefined;
  };
  const authfile = text('authfile') ?? (typeof options.authfile === 'string' ? options.authfile : undefined);
  return {
    creds: text('creds'),
    registryToken: text('registry-token'),
    tlsVerify: options[key('tls-verify')] !== false,
    certDir: text('cert-dir'),
    authfile,
    retryTimes: typeof options.retryTimes === 'number' ? options.retryTimes : 5,
  };
}

/**
 * One RegistryClient per registry for one side of a run, built from the flags: explicit
 * credentials first, else what the credential files (and their helpers) hold for the registry,
 * looked up only if it asks.
 */
export class RegistryClients {
  private readonly clients = new Map<string, Promise<RegistryClient>>();

  constructor(
    private readonly access: RegistryAccess,
    /** The flags' prefix, for messages. */
    private readonly prefix: AccessPrefix,
  ) {}

  /** The client for `registry` (`host[:port]`, or an `http(s)://` URL); `repository` picks namespace-scoped credentials. */
  get(registry: string, repository?: string): Promise<RegistryClient> {
    let client = this.clients.get(registry);
    if (client === undefined) {
      client = this.create(registry, repository);
      this.clients.set(registry, client);
    }
    return client;
  }

  async close(): Promise<void> {
    for (const client of this.clients.values()) await (await client.catch(() => undefined))?.close();
  }

  private async create(registry: string, repository: string | undefined): Promise<RegistryClient> {
    const access = this.access;
    const certificates = access.certDir === undefined ? {} : await loadCertDirectory(access.certDir);
    const host = /^https?:\/\//i.test(registry) ? new URL(registry).host : registry;
    let credentials: Credentials | (() => Promise<Credentials | undefined>);
    if (access.creds !== undefined) credentials = parseCredentialsFlag(access.creds, `--${this.prefix}creds`);
    else if (access.registryToken !== undefined) credentials = { registryToken: access.registryToken };
    else credentials = () => storedCredentials(host, repository, { authFile: access.authfile });
    return new RegistryClient({
      registry,
      credentials,
      tls: { ...certificates, insecure: !access.tlsVerify },
      retry: { attempts: access.retryTimes },
      userAgent: `wharf/${version}`,
    });
  }
}

export function parseBoolean(value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new InvalidArgumentError('expected true or false');
}

export function parsePositiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}
