import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { credentialsFromHelper } from './credential-helper.ts';
import type { Credentials } from './credentials.ts';
import { canonicalRegistryHost } from './registry-host.ts';

/** Where to look for stored registry credentials. */
export interface AuthFileOptions {
  /** `--authfile`: only this file is read. */
  authFile?: string;
  /** The environment to find the default files from (REGISTRY_AUTH_FILE, XDG_*, DOCKER_CONFIG, HOME). */
  env?: NodeJS.ProcessEnv;
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/**
 * The credential files, in the order podman and skopeo read them: `--authfile` alone when given,
 * else $REGISTRY_AUTH_FILE or ${XDG_RUNTIME_DIR}/containers/auth.json, then
 * ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json, then ${DOCKER_CONFIG:-~/.docker}/config.json.
 */
export function authFilePaths(options: AuthFileOptions = {}): string[] {
  if (options.authFile !== undefined) return [options.authFile];
  const env = options.env ?? process.env;
  const home = env.HOME || homedir();
  const paths: string[] = [];
  if (env.REGISTRY_AUTH_FILE) paths.push(env.REGISTRY_AUTH_FILE);
  else if (env.XDG_RUNTIME_DIR) paths.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  paths.push(join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers', 'auth.json'));
  paths.push(join(env.DOCKER_CONFIG || join(home, '.docker'), 'config.json'));
  return paths;
}

/**
 * The stored credentials for `host` (and, for auth.json entries keyed by namespace, `repository`):
 * the first file that has any wins; within a file a credential helper named for the host
 * (`credHelpers`), then the most specific `auths` entry, then the default store (`credsStore`).
 * Undefined when nothing is stored: the client then works anonymously.
 */
export async function storedCredentials(
  host: string,
  repository: string | undefined,
  options: AuthFileOptions = {},
): Promise<Credentials | undefined> {
  const registry = canonicalRegistryHost(host);
  for (const path of authFilePaths(options)) {
    const file = await readAuthFile(path, options.authFile !== undefined);
    if (file === undefined) continue;
    const found = await credentialsIn(file, registry, repository, path);
    if (found !== undefined) return found;
  }
  return undefined;
}

async function credentialsIn(
  file: AuthFile,
  registry: string,
  repository: string | undefined,
  path: string,
): Promise<Credentials | undefined> {
  const helper = Object.entries(file.credHelpers ?? {}).find(([key]) => normalizeKey(key) === registry)?.[1];
  if (helper) return credentialsFromHelper(helper, helperServerUrl(registry));
  const entries = new Map<string, AuthEntry>();
  for (const [key, entry] of Object.entries(file.auths ?? {})) {
    if (typeof entry === 'object' && entry !== null) entries.set(normalizeKey(key), entry);
  }
  for (const key of lookupKeys(registry, repository)) {
    const entry = entries.get(key);
    const credentials = entry && decodeEntry(entry, key, path);
    if (credentials) return credentials;
  }
  if (file.credsStore) return credentialsFromHelper(file.credsStore, helperServerUrl(registry));
  return undefined;
}

/** `host/a/b`, `host/a`, `host`: auth.json may hold credentials per namespace. */
function lookupKeys(registry: string, repository: string | undefined): string[] {
  const keys: string[] = [];
  const parts = repository ? repository.split('/') : [];
  for (let length = parts.length; length > 0; length -= 1) keys.push(`${registry}/${parts.slice(0, length).join('/')}`);
  keys.push(registry);
  return keys;
}

/** `https://index.docker.io/v1/` → `docker.io`; `http://host:5000` → `host:5000`; `host/ns` stays. */
function normalizeKey(key: string): string {
  const bare = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
  const withoutApi = bare.replace(/\/v[12]$/, '');
  const slash = withoutApi.indexOf('/');
  const host = slash < 0 ? withoutApi : withoutApi.slice(0, slash);
  return canonicalRegistryHost(host) + (slash < 0 ? '' : withoutApi.slice(slash));
}

/** The server name docker hands helpers: Docker Hub's legacy index URL, the host otherwise. */
function helperServerUrl(registry: string): string {
  return registry === 'docker.io' ? 'https://index.docker.io/v1/' : registry;
}

function decodeEntry(entry: AuthEntry, key: string, path: string): Credentials | undefined {
  if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '') {
    return { registryToken: entry.registrytoken };
  }
  let username = typeof entry.username === 'string' ? entry.username : '';
  let password = typeof entry.password === 'string' ? entry.password : '';
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new Error(`${path}: the "auth" of ${key} is not base64 of USER:PASSWORD`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    return { identityToken: entry.identitytoken, ...(username ? { username } : {}) };
  }
  if (username === '' && password === '') return undefined;
  return { username, password };
}

async function readAuthFile(path: string, required: boolean): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the credentials file ${path}: ${(error as Error).message}`);
  }
  if (text.trim() === '') return undefined;
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
    return json as AuthFile;
  } catch (error) {
    throw new Error(`the credentials file ${path} is not valid JSON: ${(error as Error).message}`);
  }
}
