import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { type CryptoKey, decodeProtectedHeader, type JWK, type JWTPayload, type KeyObject, SignJWT } from 'jose';
import { type Descriptor, descriptorOf, type HttpResult, MediaType, ociManifest, send, sha256 } from './http.ts';
import { layoutBlobs, layoutTag } from './images.ts';

/** Credentials of one account, as a user types them into `docker login` or `--creds`. */
export interface Credentials {
  username: string;
  password: string;
}

/** The `Authorization` header value for HTTP Basic. */
export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export function basicOf(credentials: Credentials): string {
  return basic(credentials.username, credentials.password);
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** `user:password`, the form skopeo's `--src-creds`/`--dest-creds`/`--creds` take. */
export function credsFlag(credentials: Credentials): string {
  return `${credentials.username}:${credentials.password}`;
}

/** Writes an htpasswd file of bcrypt entries (`$2y$`, as `htpasswd -B` writes them). */
export async function writeHtpasswd(path: string, users: readonly Credentials[], cost = 5): Promise<void> {
  const lines = users.map(({ username, password }) => {
    const hash = bcrypt.hashSync(password, cost).replace(/^\$2[ab]\$/, '$2y$');
    return `${username}:${hash}`;
  });
  await writeFile(path, `${lines.join('\n')}\n`);
}

/** A `WWW-Authenticate` challenge: its scheme (lower case) and parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a single challenge of `WWW-Authenticate` (the registry sends one). */
export function parseChallenge(header: string | null): Challenge {
  assert.ok(header, 'no WWW-Authenticate header');
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const pattern = /([A-Za-z_]+)="([^"]*)"/g;
  for (let match = pattern.exec(header); match !== null; match = pattern.exec(header)) {
    params[match[1] ?? ''] = match[2] ?? '';
  }
  return { scheme, params };
}

/** The challenge of a 401 answer, asserting that it is one. */
export function challengeOf(result: HttpResult): Challenge {
  assert.equal(result.status, 401, `expected 401, got ${result.status}: ${result.text()}`);
  return parseChallenge(result.headers.get('www-authenticate'));
}

export interface TokenRequest {
  /** Basic credentials for the token service; anonymous without. */
  as?: Credentials;
  scopes?: readonly string[];
  /** The registry's service name; read from the /v2/ challenge when not given. */
  service?: string;
}

export interface TokenAnswer {
  token: string;
  scope: string;
  expires_in: number;
}

/** The service name of the registry's Bearer challenge. */
export async function serviceOf(baseUrl: string): Promise<string> {
  const challenge = challengeOf(await send(`${baseUrl}/v2/`));
  assert.equal(challenge.scheme, 'bearer');
  const service = challenge.params.service;
  assert.ok(service, 'Bearer challenge without service');
  return service;
}

/** Asks the built-in token service for a token, as docker does: GET with Basic credentials. */
export async function requestToken(baseUrl: string, request: TokenRequest = {}): Promise<HttpResult> {
  const url = new URL('/service/token', baseUrl);
  url.searchParams.set('service', request.service ?? (await serviceOf(baseUrl)));
  for (const scope of request.scopes ?? []) url.searchParams.append('scope', scope);
  if (request.as) url.searchParams.set('account', request.as.username);
  const headers: Record<string, string> = request.as ? { authorization: basicOf(request.as) } : {};
  return send(url, { headers });
}

/** A token from the token service; asserts 200. */
export async function getToken(baseUrl: string, request: TokenRequest = {}): Promise<TokenAnswer> {
  const result = await requestToken(baseUrl, request);
  assert.equal(result.status, 200, `token request: ${result.status} ${result.text()}`);
  return result.json<TokenAnswer>();
}

/** The access claim of one scope string, as the token specification writes it. */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** Signs a token with any key and any claims: for tokens the registry must or must not believe. */
export async function signToken(
  key: KeyObject | CryptoKey,
  options: {
    algorithm: string;
    kid?: string;
    issuer: string;
    audience: string;
    subject: string;
    access: readonly AccessEntry[];
    /** Seconds since the epoch; now unless given. */
    issuedAt?: number;
    lifetimeSeconds?: number;
    typ?: string;
  },
): Promise<string> {
  const issuedAt = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const header: { alg: string; typ?: string; kid?: string } = { alg: options.algorithm };
  if (options.typ !== undefined) header.typ = options.typ;
  if (options.kid !== undefined) header.kid = options.kid;
  return new SignJWT({ access: options.access })
    .setProtectedHeader(header)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(options.subject)
    .setIssuedAt(issuedAt)
    .setNotBefore(issuedAt)
    .setExpirationTime(issuedAt + (options.lifetimeSeconds ?? 300))
    .setJti(randomBytes(12).toString('base64url'))
    .sign(key);
}

function decodeSegment<T>(segment: string | undefined): T {
  assert.ok(segment !== undefined, 'not a compact JWS');
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as T;
}

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The token with its payload rewritten and its original signature kept. */
export function withPayload(token: string, change: (payload: JWTPayload) => JWTPayload): string {
  const [header, payload, signature] = token.split('.');
  return [header, encodeSegment(change(decodeSegment<JWTPayload>(payload))), signature].join('.');
}

/** The token's claims re-sent unsigned, with `alg: none` and an empty signature. */
export function unsigned(token: string): string {
  const [header, payload] = token.split('.');
  const { alg: _alg, ...rest } = decodeProtectedHeader(`${header}.${payload}.`);
  return [encodeSegment({ ...rest, alg: 'none' }), payload, ''].join('.');
}

/** The registry's generated token signing key, read from its data directory, and its `kid`. */
export async function serverSigningKey(dataDir: string, baseUrl: string): Promise<{ pem: string; kid: string }> {
  const pem = await readFile(join(dataDir, 'token-signing-key.pem'), 'utf8');
  const jwks = (await send(new URL('/service/jwks.json', baseUrl))).json<{ keys: JWK[] }>();
  const kid = jwks.keys[0]?.kid;
  assert.ok(kid, 'the JWKS names no key');
  return { pem, kid };
}

/** A JSON call to the management API (`/api/v1`). */
export async function api(
  baseUrl: string,
  method: string,
  path: string,
  options: { as?: Credentials; body?: unknown } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  if (options.as) headers.authorization = basicOf(options.as);
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  return send(`${baseUrl}/api/v1${path}`, { method, headers, body });
}

async function expectApi(result: Promise<HttpResult>, status: number, what: string): Promise<HttpResult> {
  const answer = await result;
  assert.equal(answer.status, status, `${what}: ${answer.status} ${answer.text()}`);
  return answer;
}

export async function createUser(baseUrl: string, as: Credentials, user: Credentials & { admin?: boolean }) {
  const body = { username: user.username, password: user.password, admin: user.admin ?? false };
  await expectApi(api(baseUrl, 'POST', '/users', { as, body }), 201, `create user ${user.username}`);
}

export async function createProject(baseUrl: string, as: Credentials, name: string, isPublic = false) {
  const body = { name, public: isPublic };
  await expectApi(api(baseUrl, 'POST', '/projects', { as, body }), 201, `create project ${name}`);
}

export type Role = 'projectAdmin' | 'maintainer' | 'developer' | 'guest' | 'limitedGuest';

export async function addMember(baseUrl: string, as: Credentials, project: string, username: string, role: Role) {
  const body = { member_kind: 'user', member_name: username, role };
  await expectApi(api(baseUrl, 'POST', `/projects/${project}/members`, { as, body }), 201, `add ${username}`);
}

/** Creates a project robot; returns its full name (`robot$project+name`) and secret as credentials. */
export async function createRobot(
  baseUrl: string,
  as: Credentials,
  project: string,
  name: string,
  actions: readonly ('pull' | 'push' | 'delete')[],
): Promise<Credentials> {
  const answer = await expectApi(
    api(baseUrl, 'POST', `/projects/${project}/robots`, { as, body: { name, actions } }),
    201,
    `create robot ${name} in ${project}`,
  );
  const robot = answer.json<{ name: string; secret: string }>();
  assert.equal(robot.name, `robot$${project}+${name}`);
  return { username: robot.name, password: robot.secret };
}

/** A request to the registry with an `Authorization` header (or none). */
export function call(
  baseUrl: string,
  method: string,
  path: string,
  authorization: string | undefined,
  init: { headers?: Record<string, string>; body?: Buffer } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...init.headers };
  if (authorization !== undefined) headers.authorization = authorization;
  return send(`${baseUrl}${path}`, { method, headers, body: init.body });
}

/** POST then PUT of one blob, with the given authorization; asserts 201. */
export async function pushBlobAs(
  baseUrl: string,
  repo: string,
  bytes: Buffer,
  authorization: string | undefined,
): Promise<string> {
  const digest = sha256(bytes);
  const started = await call(baseUrl, 'POST', `/v2/${repo}/blobs/uploads/`, authorization);
  assert.equal(started.status, 202, `POST upload in ${repo}: ${started.status} ${started.text()}`);
  const location = new URL(started.headers.get('location') ?? '', baseUrl);
  location.searchParams.set('digest', digest);
  const finished = await send(location, {
    method: 'PUT',
    headers: {
      'content-type': 'application/octet-stream',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: bytes,
  });
  assert.equal(finished.status, 201, `PUT blob in ${repo}: ${finished.status} ${finished.text()}`);
  return digest;
}

export interface SmallImage {
  manifest: Buffer;
  digest: string;
  config: Descriptor;
  layer: Descriptor;
  configBytes: Buffer;
  layerBytes: Buffer;
}

/** A config, one random layer and an OCI manifest over them, unique to this call. */
export function smallImage(): SmallImage {
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      nonce: randomBytes(8).toString('hex'),
    }),
  );
  const layerBytes = randomBytes(700);
  const config = descriptorOf(MediaType.ociConfig, configBytes);
  const layer = descriptorOf(MediaType.ociLayer, layerBytes);
  const manifest = Buffer.from(JSON.stringify(ociManifest({ config, layers: [layer] })));
  return { manifest, digest: sha256(manifest), config, layer, configBytes, layerBytes };
}

export function putManifestAs(
  baseUrl: string,
  repo: string,
  reference: string,
  manifest: Buffer,
  authorization: string | undefined,
): Promise<HttpResult> {
  return call(baseUrl, 'PUT', `/v2/${repo}/manifests/${reference}`, authorization, {
    headers: { 'content-type': MediaType.ociManifest },
    body: manifest,
  });
}

/** Pushes a small image's blobs and manifest under `tag`, asserting 201 for each. */
export async function pushImageAs(
  baseUrl: string,
  repo: string,
  tag: string,
  authorization: string | undefined,
  image: SmallImage = smallImage(),
): Promise<SmallImage> {
  await pushBlobAs(baseUrl, repo, image.configBytes, authorization);
  await pushBlobAs(baseUrl, repo, image.layerBytes, authorization);
  const put = await putManifestAs(baseUrl, repo, tag, image.manifest, authorization);
  assert.equal(put.status, 201, `PUT manifest ${repo}:${tag}: ${put.status} ${put.text()}`);
  assert.equal(put.headers.get('docker-content-digest'), image.digest);
  return image;
}

/** GET a manifest with the given authorization (the answer is returned, not checked). */
export function getManifestAs(
  baseUrl: string,
  repo: string,
  reference: string,
  authorization: string | undefined,
): Promise<HttpResult> {
  return call(baseUrl, 'GET', `/v2/${repo}/manifests/${reference}`, authorization, {
    headers: { accept: MediaType.ociManifest },
  });
}

/** Asserts a 401 whose Bearer challenge carries `error="<error>"` (and the scope, when given). */
export function assertBearerRefusal(result: HttpResult, error: string | undefined, scope?: string): Challenge {
  const challenge = challengeOf(result);
  assert.equal(challenge.scheme, 'bearer', `challenge: ${result.headers.get('www-authenticate')}`);
  assert.equal(challenge.params.error, error, `challenge: ${result.headers.get('www-authenticate')}`);
  if (scope !== undefined) assert.equal(challenge.params.scope, scope);
  const body = result.json<{ errors: { code: string }[] }>();
  assert.equal(body.errors[0]?.code, 'UNAUTHORIZED');
  return challenge;
}

/**
 * Asserts that the OCI layout at `pulled` holds `tag` as exactly the image pushed: the same manifest
 * digest, and every blob present with bytes hashing to its name.
 */
export async function assertSameImage(
  pulled: string,
  tag: string,
  pushed: { manifest: { digest: string }; blobDigests: readonly string[] },
): Promise<void> {
  assert.equal((await layoutTag(pulled, tag)).digest, pushed.manifest.digest, 'manifest digest after the round trip');
  const blobs = await layoutBlobs(pulled);
  for (const digest of pushed.blobDigests) {
    assert.equal(blobs.get(digest)?.contentDigest, digest, `blob ${digest} pulled byte for byte`);
  }
}
